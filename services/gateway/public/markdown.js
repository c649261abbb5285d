'use strict';
// A small, safe Markdown renderer for answers: paragraphs, headings, lists,
// block quotes, rules, fenced code blocks (with a copy button), inline code,
// emphasis, strike-through and http(s) links. It never parses HTML: the text
// becomes a tree of a few known element names whose text is set as text
// (textContent), so a model or a user writing <script> or <img onerror> gets
// those characters shown, never an element. No innerHTML anywhere.
((root) => {
  /** Node tree: { tag, attrs?, children } or a string (text). */
  const el = (tag, children, attrs) => ({ tag, children, ...(attrs ? { attrs } : {}) });

  const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([\w+#.-]*)\s*$/;
  const HEADING = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
  const RULE = /^ {0,3}([-*_])(\s*\1){2,}\s*$/;
  const BULLET = /^(\s*)[-*+]\s+(.*)$/;
  const ORDERED = /^(\s*)(\d{1,9})[.)]\s+(.*)$/;
  const QUOTE = /^ {0,3}>\s?(.*)$/;

  /** Block structure of a whole answer (an unterminated fence, as while streaming, runs to the end). */
  function parseBlocks(text) {
    const lines = text.replace(/\r\n?/g, '\n').split('\n');
    const blocks = [];
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      const fence = FENCE.exec(line);
      if (fence) {
        const marker = fence[1];
        const code = [];
        i++;
        const closes = (candidate) => {
          const close = /^ {0,3}(`{3,}|~{3,})\s*$/.exec(candidate);
          return close !== null && close[1][0] === marker[0] && close[1].length >= marker.length;
        };
        while (i < lines.length && !closes(lines[i])) {
          code.push(lines[i]);
          i++;
        }
        i++; // the closing fence
        blocks.push({ type: 'code', lang: fence[2], text: code.join('\n') });
        continue;
      }
      if (line.trim() === '') {
        i++;
        continue;
      }
      const heading = HEADING.exec(line);
      if (heading) {
        blocks.push({ type: 'heading', level: heading[1].length, text: heading[2] });
        i++;
        continue;
      }
      if (RULE.test(line)) {
        blocks.push({ type: 'rule' });
        i++;
        continue;
      }
      if (QUOTE.test(line)) {
        const quoted = [];
        while (i < lines.length && QUOTE.test(lines[i])) quoted.push(QUOTE.exec(lines[i++])[1]);
        blocks.push({ type: 'quote', blocks: parseBlocks(quoted.join('\n')) });
        continue;
      }
      const bullet = BULLET.exec(line);
      const ordered = ORDERED.exec(line);
      if (bullet || ordered) {
        const isOrdered = !bullet;
        const pattern = isOrdered ? ORDERED : BULLET;
        const items = [];
        const start = isOrdered ? Number(ordered[2]) : undefined;
        while (i < lines.length) {
          const match = pattern.exec(lines[i]);
          if (match) {
            items.push([isOrdered ? match[3] : match[2]]);
            i++;
          } else if (
            items.length > 0 &&
            lines[i].trim() !== '' &&
            /^\s+/.test(lines[i]) &&
            !FENCE.test(lines[i])
          ) {
            // An indented continuation line belongs to the item above.
            items[items.length - 1].push(lines[i].trim());
            i++;
          } else break;
        }
        blocks.push({ type: isOrdered ? 'ol' : 'ul', start, items: items.map((item) => item.join('\n')) });
        continue;
      }
      const paragraph = [];
      while (
        i < lines.length &&
        lines[i].trim() !== '' &&
        !FENCE.test(lines[i]) &&
        !HEADING.test(lines[i]) &&
        !RULE.test(lines[i]) &&
        !QUOTE.test(lines[i]) &&
        !BULLET.test(lines[i]) &&
        !ORDERED.test(lines[i])
      )
        paragraph.push(lines[i++]);
      blocks.push({ type: 'paragraph', text: paragraph.join('\n') });
    }
    return blocks;
  }

  const SAFE_URL = /^https?:\/\/[^\s<>"']+$/i;

  /** Inline spans of one block's text: code, links, strong, emphasis, strike-through; line breaks kept. */
  function parseInline(text) {
    const out = [];
    let plain = '';
    const flush = () => {
      if (plain) {
        const parts = plain.split('\n');
        parts.forEach((part, index) => {
          if (index > 0) out.push(el('br', []));
          if (part) out.push(part);
        });
        plain = '';
      }
    };
    let i = 0;
    while (i < text.length) {
      const rest = text.slice(i);
      let match;
      if (rest[0] === '\\' && /^\\[\\`*_~[\]()#>+\-.!]/.test(rest)) {
        plain += rest[1];
        i += 2;
        continue;
      }
      if ((match = /^(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/.exec(rest))) {
        flush();
        out.push(el('code', [match[2].replace(/^ (.*) $/, '$1')]));
        i += match[0].length;
        continue;
      }
      // Only web links: javascript:, data: and the like stay text.
      if ((match = /^\[([^\]\n]+)\]\(([^)\s]+)\)/.exec(rest)) && SAFE_URL.test(match[2])) {
        flush();
        out.push(el('a', parseInline(match[1]), { href: match[2] }));
        i += match[0].length;
        continue;
      }
      if (
        (match = /^(\*\*|__)(?=\S)([\s\S]*?\S)\1/.exec(rest)) &&
        (match[1] === '**' || !/\w/.test(text[i - 1] || ''))
      ) {
        flush();
        out.push(el('strong', parseInline(match[2])));
        i += match[0].length;
        continue;
      }
      if ((match = /^~~(?=\S)([\s\S]*?\S)~~/.exec(rest))) {
        flush();
        out.push(el('del', parseInline(match[1])));
        i += match[0].length;
        continue;
      }
      if (
        (match = /^([*_])(?=[^\s*_])([\s\S]*?[^\s\\])\1(?![*_])/.exec(rest)) &&
        (match[1] === '*' || (!/\w/.test(text[i - 1] || '') && !/\w/.test(text[i + match[0].length] || '')))
      ) {
        flush();
        out.push(el('em', parseInline(match[2])));
        i += match[0].length;
        continue;
      }
      plain += rest[0];
      i++;
    }
    flush();
    return out;
  }

  /** The whole answer as a node tree (pure: testable without a DOM). */
  function markdownTree(text) {
    const render = (blocks) =>
      blocks.map((block) => {
        switch (block.type) {
          case 'code':
            return el('pre', [
              el('code', [block.text], block.lang ? { 'data-lang': block.lang } : undefined),
            ]);
          case 'heading':
            return el(`h${Math.min(6, block.level + 2)}`, parseInline(block.text));
          case 'rule':
            return el('hr', []);
          case 'quote':
            return el('blockquote', render(block.blocks));
          case 'ul':
          case 'ol':
            return el(
              block.type,
              block.items.map((item) => el('li', parseInline(item))),
              block.type === 'ol' && block.start !== 1 ? { start: String(block.start) } : undefined,
            );
          default:
            return el('p', parseInline(block.text));
        }
      });
    return render(parseBlocks(text));
  }

  const ALLOWED = new Set([
    'p',
    'br',
    'h3',
    'h4',
    'h5',
    'h6',
    'hr',
    'blockquote',
    'ul',
    'ol',
    'li',
    'pre',
    'code',
    'strong',
    'em',
    'del',
    'a',
  ]);
  const ATTRIBUTES = new Set(['href', 'start', 'data-lang']);

  /** Copies a code block's text; the button says whether it worked. */
  function copyButton(doc, code) {
    const button = doc.createElement('button');
    button.type = 'button';
    button.className = 'copy';
    button.textContent = 'Copy';
    button.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(code);
        button.textContent = 'Copied';
      } catch {
        button.textContent = 'Copy failed';
      }
      setTimeout(() => (button.textContent = 'Copy'), 1500);
    });
    return button;
  }

  /** Builds the DOM for a tree with createElement and text nodes only. */
  function build(doc, nodes, parent) {
    for (const node of nodes) {
      if (typeof node === 'string') {
        parent.appendChild(doc.createTextNode(node));
        continue;
      }
      if (!ALLOWED.has(node.tag)) continue;
      const element = doc.createElement(node.tag);
      for (const [name, value] of Object.entries(node.attrs || {}))
        if (ATTRIBUTES.has(name)) element.setAttribute(name, value);
      if (node.tag === 'a') {
        element.rel = 'noopener noreferrer nofollow';
        element.target = '_blank';
      }
      build(doc, node.children, element);
      if (node.tag === 'pre') {
        const wrapper = doc.createElement('div');
        wrapper.className = 'code-block';
        wrapper.appendChild(copyButton(doc, element.textContent));
        wrapper.appendChild(element);
        parent.appendChild(wrapper);
      } else parent.appendChild(element);
    }
  }

  /** Replaces `element`'s content with `text` rendered as Markdown. */
  function renderMarkdown(element, text) {
    const doc = element.ownerDocument;
    const fragment = doc.createDocumentFragment();
    build(doc, markdownTree(text), fragment);
    element.replaceChildren(fragment);
  }

  const api = { markdownTree, renderMarkdown };
  if (typeof module === 'object' && module.exports) module.exports = api;
  else root.ChatMarkdown = api;
})(typeof window === 'undefined' ? globalThis : window);
