#!/usr/bin/env node
// An mdbook preprocessor that renders $inline$ and $$display$$ math to HTML with KaTeX at build
// time, so the book needs no JavaScript and no network to show its equations. The CSS and fonts
// come from the same npm package, copied next to the pages by scripts/book.sh.
// A formula KaTeX cannot parse fails the build, naming the chapter and the formula.
"use strict";
const katex = require("katex");

if (process.argv[2] === "supports") {
  process.exit(0); // every renderer: the output is plain HTML
}

// Splits a chapter into code (fenced blocks, inline code spans) and prose; only prose has math.
function renderMath(text, where) {
  const out = [];
  const lines = text.split("\n");
  let fence = null;
  let prose = [];
  const flush = () => {
    if (prose.length) out.push(renderProse(prose.join("\n"), where));
    prose = [];
  };
  for (const line of lines) {
    const m = line.match(/^\s*(```+|~~~+)/);
    if (fence) {
      out.push(line);
      if (m && m[1][0] === fence[0] && m[1].length >= fence.length) fence = null;
    } else if (m) {
      flush();
      fence = m[1];
      out.push(line);
    } else {
      prose.push(line);
    }
  }
  flush();
  return out.join("\n");
}

function renderProse(text, where) {
  // Keep inline code spans untouched.
  return text
    .split(/(`+[^`]*`+)/)
    .map((part, i) => (i % 2 === 1 ? part : renderPart(part, where)))
    .join("");
}

function renderPart(text, where) {
  const render = (tex, displayMode) => {
    try {
      return katex.renderToString(tex, { displayMode, throwOnError: true, output: "html" });
    } catch (e) {
      process.stderr.write(`katex: ${where}: cannot render ${JSON.stringify(tex)}: ${e.message}\n`);
      process.exit(1);
    }
  };
  return text
    .replace(/\$\$([\s\S]+?)\$\$/g, (_, tex) => `\n<div class="math-display">${render(tex.trim(), true)}</div>\n`)
    // Inline math may wrap onto the next line, but never across a blank line (a new paragraph).
    .replace(/(^|[^\\$])\$([^\s$](?:(?:[^$\n]|\n(?!\s*\n))*?[^\s\\$])?)\$(?!\d)/g, (_, pre, tex) => pre + render(tex, false))
    .replace(/\\\$/g, "$");
}

function walk(items) {
  for (const item of items || []) {
    const ch = item.Chapter;
    if (!ch) continue;
    ch.content = renderMath(ch.content, ch.path || ch.name);
    walk(ch.sub_items);
  }
}

let input = "";
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", () => {
  const [, book] = JSON.parse(input);
  walk(book.items || book.sections);
  process.stdout.write(JSON.stringify(book));
});
