import { join } from 'node:path';
import { PUBLIC_DIR } from './web.controller';

type Tree = (string | { tag: string; attrs?: Record<string, string>; children: Tree })[];
// The page's own renderer (plain JavaScript served to the browser), tested as the browser runs it.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { markdownTree } = require(join(PUBLIC_DIR, 'markdown.js')) as { markdownTree(text: string): Tree };

/** A compact text form of a tree: <tag attr=value>children</tag>. */
function show(tree: Tree): string {
  return tree
    .map((node) =>
      typeof node === 'string'
        ? JSON.stringify(node)
        : `<${node.tag}${Object.entries(node.attrs ?? {})
            .map(([k, v]) => ` ${k}=${v}`)
            .join('')}>${show(node.children)}</${node.tag}>`,
    )
    .join('');
}

describe('the web chat’s Markdown renderer', () => {
  it('renders lists, emphasis, headings, quotes, rules and links', () => {
    expect(
      show(
        markdownTree(
          '# Title\n\nSome **bold**, *em*, _em too_, ~~gone~~ and `x < y`.\n\n- one\n- two\n\n3. three\n4. four\n\n> quoted\n\n---\n[site](https://example.org/a?b=c)',
        ),
      ),
    ).toBe(
      '<h3>"Title"</h3>' +
        '<p>"Some "<strong>"bold"</strong>", "<em>"em"</em>", "<em>"em too"</em>", "<del>"gone"</del>" and "<code>"x < y"</code>"."</p>' +
        '<ul><li>"one"</li><li>"two"</li></ul>' +
        '<ol start=3><li>"three"</li><li>"four"</li></ol>' +
        '<blockquote><p>"quoted"</p></blockquote>' +
        '<hr></hr>' +
        '<p><a href=https://example.org/a?b=c>"site"</a></p>',
    );
  });

  it('keeps a fenced code block verbatim, unterminated ones (mid-stream) included', () => {
    expect(show(markdownTree('Run:\n```js\nconst a = b * c * d;\n<b>x</b>\n```\nafter'))).toBe(
      '<p>"Run:"</p><pre><code data-lang=js>"const a = b * c * d;\\n<b>x</b>"</code></pre><p>"after"</p>',
    );
    expect(show(markdownTree('```\nstill **streaming'))).toBe('<pre><code>"still **streaming"</code></pre>');
  });

  it('keeps HTML, scripts and unsafe links as text, never as elements', () => {
    const tree = markdownTree(
      '<script>alert(1)</script> <img src=x onerror=alert(2)> [x](javascript:alert(3)) [y](data:text/html,hi)',
    );
    expect(show(tree)).toBe(
      '<p>"<script>alert(1)</script> <img src=x onerror=alert(2)> [x](javascript:alert(3)) [y](data:text/html,hi)"</p>',
    );
  });

  it('keeps line breaks, snake_case words and escaped markers as written', () => {
    expect(show(markdownTree('a_b_c and 2*3*4\nnext \\*line\\*'))).toBe(
      '<p>"a_b_c and 2"<em>"3"</em>"4"<br></br>"next *line*"</p>',
    );
  });
});
