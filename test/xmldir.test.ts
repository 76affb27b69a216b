// Directory tree → XML → directory tree, through the library and the real CLIs, plus every refusal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync,
  symlinkSync, utimesSync, lutimesSync, writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../src/cli.ts';
import { dirOfXml, parseXmlDir, xmlOfDir } from '../src/xmldir.ts';

const scratch = mkdtempSync(join(tmpdir(), 'xmldir-test-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
let counter = 0;
const fresh = (label: string) => join(scratch, `${label}-${counter++}`);

const at = (iso: string) => new Date(iso).getTime() / 1000;

/** A tree with every kind of entry this format handles. */
function makeTree(): string {
  const root = fresh('src');
  mkdirSync(root);
  const f = (rel: string, data: string | Buffer, mode = 0o644, mtime = at('2024-03-04T05:06:07Z')) => {
    writeFileSync(join(root, rel), data);
    chmodSync(join(root, rel), mode);
    utimesSync(join(root, rel), mtime, mtime);
  };
  mkdirSync(join(root, 'a/b/c'), { recursive: true });
  mkdirSync(join(root, 'empty-dir'));
  mkdirSync(join(root, 'private'));
  f('a/b/c/deep.txt', 'deep\n');
  f('a/top.md', '# Title\n\nSome text.\n', 0o644, at('2001-09-09T01:46:40Z'));
  f('empty.txt', '');
  f('crlf.txt', '\uFEFFhéllo\r\nwörld 🎉\r\nlone\rCR and a tab\there\r\n');
  f('binary.bin', Buffer.from([0, 1, 2, 0xff, 0xfe, 0x80, 0xc3, 0x28, 0, 10, 13, 0x7f]));
  f('escape.txt', 'ok except \x1b[31mred\x1b[0m\n'); // valid UTF-8, but ESC cannot be carried by XML 1.0
  f('xml.txt', '<a href="x">&amp; ]]> <&> \'q\'</a>\n<![CDATA[ x ]]>\n');
  f('no-newline', 'last line without newline');
  f('secret.txt', 'top secret\n', 0o600);
  f('run.sh', '#!/bin/sh\necho hi\n', 0o755);
  f('read-only', 'r/o\n', 0o444);
  f('name with spaces ünïcødé 日本.txt', 'spaces\n');
  f('q"uote&amp<lt>.txt', 'odd name\n');
  f('private/inner', 'inner\n', 0o640);
  symlinkSync('a/b/c/deep.txt', join(root, 'link-rel'));
  symlinkSync('no/such/file', join(root, 'dangling'));
  symlinkSync('/etc/passwd', join(root, 'link-abs'));
  symlinkSync('../a', join(root, 'a/b/up'));
  lutimesSync(join(root, 'dangling'), at('2020-01-01T00:00:00Z'), at('2020-01-01T00:00:00Z'));
  chmodSync(join(root, 'private'), 0o700);
  chmodSync(join(root, 'empty-dir'), 0o751);
  // directories last, deepest first, so their mtimes stay as set
  for (const [rel, iso] of [['a/b/c', '2023-01-01T00:00:00Z'], ['a/b', '2023-01-02T00:00:00Z'], ['a', '2023-01-03T00:00:00Z'],
    ['empty-dir', '2022-02-02T02:02:02Z'], ['private', '2021-01-01T12:00:00Z'], ['.', '2024-12-31T23:59:59Z']] as const) {
    utimesSync(join(root, rel), at(iso), at(iso));
  }
  return root;
}

interface Snap { path: string; type: string; mode?: string; mtime: number; target?: string; content?: string }

/** Everything the format promises to keep, for comparison. */
function snapshot(root: string): Snap[] {
  const out: Snap[] = [];
  const walk = (rel: string) => {
    const abs = join(root, rel);
    const st = lstatSync(abs);
    const mtime = Math.floor(st.mtimeMs / 1000);
    if (st.isSymbolicLink()) {
      out.push({ path: rel, type: 'symlink', mtime, target: readlinkSync(abs) });
    } else if (st.isDirectory()) {
      out.push({ path: rel, type: 'dir', mode: (st.mode & 0o7777).toString(8), mtime });
      for (const name of readdirSync(abs).sort()) walk(rel === '' ? name : `${rel}/${name}`);
    } else {
      out.push({ path: rel, type: 'file', mode: (st.mode & 0o7777).toString(8), mtime, content: readFileSync(abs).toString('hex') });
    }
  };
  walk('');
  return out;
}

function cli(script: string, args: string[], input?: string | Buffer) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', `scripts/${script}.ts`, ...args], { input });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
}

function assertOneLineError(r: { status: number | null; stderr: string }, pattern: RegExp) {
  assert.equal(r.status, 1, `exit status, stderr: ${r.stderr}`);
  assert.match(r.stderr, pattern);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line of error, got: ${r.stderr}`);
}

test('library round trip keeps names, types, modes, mtimes, link targets and bytes', () => {
  const src = makeTree();
  const xml = xmlOfDir(src);
  const dst = fresh('dst');
  dirOfXml(xml, dst);
  assert.deepEqual(snapshot(dst), snapshot(src));
  assert.equal(xmlOfDir(dst), xml, 'the restored tree gives the same XML');
  assert.equal(lstatSync(join(dst, 'private')).mode & 0o7777, 0o700);
  assert.equal(lstatSync(join(dst, 'secret.txt')).mode & 0o7777, 0o600);
  assert.equal(readlinkSync(join(dst, 'dangling')), 'no/such/file');
  assert.equal(Math.floor(lstatSync(join(dst, 'dangling')).mtimeMs / 1000), at('2020-01-01T00:00:00Z'));
});

test('the CLIs round trip the tree through files and through pipes', () => {
  const src = makeTree();
  const xmlFile = join(fresh('xml'));
  const w = cli('xmlOfDir', ['-i', src, '-o', xmlFile]);
  assert.equal(w.status, 0, w.stderr);
  const viaStdout = cli('xmlOfDir', [src]);
  assert.equal(viaStdout.status, 0, viaStdout.stderr);
  assert.deepEqual(viaStdout.stdout, readFileSync(xmlFile), 'positional DIR to stdout gives the same bytes as -i/-o');
  assert.equal(readFileSync(xmlFile, 'utf8'), xmlOfDir(src));

  const dst1 = fresh('dst');
  const r1 = cli('dirOfXml', ['-i', xmlFile, '-o', dst1]);
  assert.equal(r1.status, 0, r1.stderr);
  assert.deepEqual(snapshot(dst1), snapshot(src));

  const dst2 = fresh('dst');
  const r2 = cli('dirOfXml', ['-o', dst2], viaStdout.stdout);
  assert.equal(r2.status, 0, r2.stderr);
  assert.deepEqual(snapshot(dst2), snapshot(src));
});

test('the seed toy tree gives the seed shape, exactly', () => {
  const root = fresh('toy');
  mkdirSync(join(root, 'testdir'), { recursive: true });
  writeFileSync(join(root, 'testfile.txt'), 'hello llmfuse\n');
  chmodSync(join(root, 'testfile.txt'), 0o644);
  chmodSync(join(root, 'testdir'), 0o755);
  chmodSync(root, 0o755);
  utimesSync(join(root, 'testfile.txt'), at('2025-01-01T00:00:01Z'), at('2025-01-01T00:00:01Z'));
  utimesSync(join(root, 'testdir'), at('2025-01-01T00:00:00Z'), at('2025-01-01T00:00:00Z'));
  utimesSync(root, at('2025-01-01T00:00:00Z'), at('2025-01-01T00:00:00Z'));
  const [owner, group] = ownerGroupOf(root);
  const m = `owner="${owner}" group="${group}"`;
  assert.equal(xmlOfDir(root), [
    '<filesystem>',
    `  <directory path="/" name="/" mode="0755" ${m} mtime="2025-01-01T00:00:00">`,
    `    <directory path="testdir" name="testdir" mode="0755" ${m} mtime="2025-01-01T00:00:00" />`,
    `    <file path="testfile.txt" name="testfile.txt" mode="0644" ${m} mtime="2025-01-01T00:00:01" size="14">`,
    '      <body>hello llmfuse',
    '</body>',
    '    </file>',
    '  </directory>',
    '</filesystem>',
    '',
  ].join('\n'));
});

function ownerGroupOf(path: string): [string, string] {
  const head = xmlOfDir(path).split('\n')[1]!;
  return [/owner="([^"]*)"/.exec(head)![1]!, /group="([^"]*)"/.exec(head)![1]!];
}

test('bodies: text escaped, CR as &#13;, the rest base64; entries sorted by bytes', () => {
  const src = makeTree();
  const xml = xmlOfDir(src);
  const line = (name: string) => xml.split('\n').find((l) => l.includes(`name="${name}"`))!;
  assert.match(line('binary.bin'), /size="12" encoding="base64">$/);
  assert.match(line('escape.txt'), /encoding="base64"/);
  assert.doesNotMatch(line('crlf.txt'), /encoding/);
  assert.ok(xml.includes('<body>\uFEFFhéllo&#13;\nwörld 🎉&#13;\nlone&#13;CR and a tab\there&#13;\n</body>'));
  assert.ok(xml.includes('<body>&lt;a href="x"&gt;&amp;amp; ]]&gt; &lt;&amp;&gt; \'q\'&lt;/a&gt;\n'));
  assert.ok(!xml.includes(']]>'), 'no raw ]]> anywhere');
  assert.ok(!xml.includes('\r'), 'no raw CR anywhere');
  assert.match(line('q&quot;uote&amp;amp&lt;lt&gt;.txt'), /path="q&quot;uote&amp;amp&lt;lt&gt;.txt"/);
  assert.match(line('empty.txt'), /size="0" \/>$/);
  assert.match(line('empty-dir'), /mode="0751" .* \/>$/);
  assert.match(line('dangling'), /^ {4}<symlink path="dangling" name="dangling" owner="[^"]+" group="[^"]+" mtime="2020-01-01T00:00:00" target="no\/such\/file" \/>$/);
  const topNames = [...xml.matchAll(/^ {4}<\w+ path="[^"]*" name="([^"]*)"/gm)].map((m) => m[1]!);
  const sorted = [...topNames].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  assert.deepEqual(topNames, sorted);
  assert.equal(topNames.length, 17);
});

test('parsing gives the bytes back, also from a Uint8Array', () => {
  const src = makeTree();
  const tree = parseXmlDir(Buffer.from(xmlOfDir(src)));
  const crlf = tree.children.find((e) => e.name === 'crlf.txt');
  assert.ok(crlf?.kind === 'file');
  assert.deepEqual(crlf.body, readFileSync(join(src, 'crlf.txt')));
});

test('xmlOfDir refuses FIFOs and sockets, naming them', async () => {
  const root = fresh('fifo');
  mkdirSync(root);
  writeFileSync(join(root, 'ok.txt'), 'ok\n');
  const mk = spawnSync('mkfifo', [join(root, 'pipe')]);
  assert.equal(mk.status, 0, 'mkfifo works');
  assert.throws(() => xmlOfDir(root), (e: Error) => e instanceof UserError && /pipe: cannot represent a FIFO/.test(e.message));
  assertOneLineError(cli('xmlOfDir', ['-i', root]), /^xmlOfDir: .*pipe: cannot represent a FIFO\n$/);

  const sockRoot = fresh('sock');
  mkdirSync(sockRoot);
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(join(sockRoot, 'sock'), resolve));
  try {
    assert.throws(() => xmlOfDir(sockRoot), /sock: cannot represent a socket/);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test('xmlOfDir refuses names and link targets XML cannot carry', () => {
  const bad = fresh('badname');
  mkdirSync(bad);
  writeFileSync(Buffer.from(`${bad}/bad-\xff-name`, 'latin1'), 'x');
  assert.throws(() => xmlOfDir(bad), /not valid UTF-8/);

  const ctl = fresh('ctlname');
  mkdirSync(ctl);
  writeFileSync(join(ctl, 'bell\x07'), 'x');
  assert.throws(() => xmlOfDir(ctl), /characters XML cannot carry/);

  const link = fresh('badlink');
  mkdirSync(link);
  symlinkSync('to\x01where', join(link, 'l'));
  assert.throws(() => xmlOfDir(link), /symlink target/);

  assert.throws(() => xmlOfDir(join(link, 'nope')), /cannot read .*ENOENT/);
  const file = join(fresh('plain'));
  writeFileSync(file, 'x');
  assert.throws(() => xmlOfDir(file), /is not a directory/);
});

/** A document around the given entries of the root directory. */
const doc = (entries: string) =>
  `<filesystem>\n  <directory path="/" name="/" mode="0755" owner="root" group="root" mtime="2025-01-01T00:00:00">\n${entries}\n  </directory>\n</filesystem>\n`;
const attrs = (path: string, name: string) => `path="${path}" name="${name}" mode="0644" owner="root" group="root" mtime="2025-01-01T00:00:01"`;
const fileEl = (path: string, name: string, body = 'x') => `<file ${attrs(path, name)} size="${Buffer.byteLength(body)}"><body>${body}</body></file>`;

test('dirOfXml refuses paths that escape the target and writes nothing', () => {
  const cases: [string, RegExp][] = [
    [fileEl('../evil', 'evil'), /escapes the target/],
    [fileEl('..', '..'), /escapes the target/],
    [fileEl('a/../../evil', 'evil'), /escapes the target/],
    [fileEl('/tmp/evil', 'evil'), /absolute path/],
    [fileEl('/', '/'), /absolute path/],
    [fileEl('evil', '../evil'), /bad name|does not match/],
    [fileEl('a/evil', 'a/evil'), /bad name/],
    [fileEl('', ''), /bad name/],
    [fileEl('other', 'evil'), /does not match its place/],
    [`<directory ${attrs('d', 'd')}>\n${fileEl('evil', 'evil')}\n</directory>`, /does not match its place/],
    [`<symlink path="l" name="l" owner="root" group="root" mtime="2025-01-01T00:00:01" target="/tmp">${fileEl('l/evil', 'evil')}</symlink>`, /<symlink> must be empty/],
    [`${fileEl('x', 'x')}\n${fileEl('x', 'x')}`, /duplicate entry "x"/],
    [`<directory ${attrs('x', 'x')} />\n<symlink path="x" name="x" owner="root" group="root" mtime="2025-01-01T00:00:01" target="/tmp" />`, /duplicate entry/],
  ];
  for (const [entries, pattern] of cases) {
    const parent = fresh('escape');
    const target = join(parent, 'target');
    mkdirSync(parent);
    assert.throws(() => dirOfXml(doc(entries), target), (e: Error) => e instanceof UserError && pattern.test(e.message), entries);
    assert.deepEqual(readdirSync(parent), [], `nothing written for ${entries}`);
  }
  const r = cli('dirOfXml', ['-o', join(fresh('escape'), 't')], doc(fileEl('../evil', 'evil')));
  assertOneLineError(r, /^dirOfXml: XML line 3: path "\.\.\/evil" escapes the target with \.\.\n$/);
});

test('dirOfXml rejects malformed XML with one clear line', () => {
  const cases: [string, RegExp][] = [
    ['', /empty/],
    ['   \n', /empty/],
    ['<filesystem>', /not closed/],
    ['<filesystem></filesystme>', /closes <filesystem>/],
    ['<filesystem/>', /exactly one <directory/],
    ['<fs></fs>', /expected <filesystem>/],
    ['<filesystem><!-- hi --></filesystem>', /comments/],
    [doc('') + '<extra/>', /content after the root/],
    [doc('stray text'), /unexpected text inside <directory>/],
    [doc(fileEl('a', 'a', 'x &foo; y').replace('size="9"', 'size="9"')), /unknown reference &foo;/],
    [doc(fileEl('a', 'a', 'x & y')), /& that starts no reference/],
    [doc(fileEl('a', 'a', '&#0;')), /not a character XML can carry/],
    [doc(fileEl('a', 'a', 'bad \x01 raw')), /U\+0001 is not allowed/],
    [doc(fileEl('a', 'a', 'a ]]> b')), /\]\]> in text/],
    [doc(`<file ${attrs('a', 'a')} size="5"><body>abc</body></file>`), /size="5" but the body has 3 bytes/],
    [doc(`<file ${attrs('a', 'a')} size="3" encoding="base64"><body>@@@@</body></file>`), /not valid base64/],
    [doc(`<file ${attrs('a', 'a')} size="3" encoding="rot13"><body>abc</body></file>`), /unknown encoding/],
    [doc(`<file ${attrs('a', 'a')} size="-1" />`), /not a whole number/],
    [doc(`<file ${attrs('a', 'a')} />`), /lacks the attribute size/],
    [doc(`<file ${attrs('a', 'a')} size="0" colour="red" />`), /unknown attribute colour/],
    [doc(`<file ${attrs('a', 'a')} size="0" size="0" />`), /duplicate attribute size/],
    [doc(`<file ${attrs('a', 'a').replace('0644', '0999')} size="0" />`), /mode "0999"/],
    [doc(`<file ${attrs('a', 'a').replace('2025-01-01T00:00:01', '2025-02-30T00:00:00')} size="0" />`), /mtime "2025-02-30T00:00:00"/],
    [doc(`<file ${attrs('a', 'a')} size="1"><body>a</body><body>b</body></file>`), /only one <body>/],
    [doc(`<device ${attrs('a', 'a')} />`), /unexpected element <device>/],
    [doc(`<file path=a name="a" />`), /expected a quoted value for path/],
    [doc(`<file path="a<" name="a" />`), /< in the value of path/],
  ];
  for (const [xml, pattern] of cases) {
    const parent = fresh('malformed');
    mkdirSync(parent);
    assert.throws(() => dirOfXml(xml, join(parent, 't')), (e: Error) => e instanceof UserError && pattern.test(e.message) && !e.message.includes('\n'), xml);
    assert.deepEqual(readdirSync(parent), [], `nothing created for ${JSON.stringify(xml)}`);
  }
  assertOneLineError(cli('dirOfXml', ['-o', fresh('m')], '<filesystem>\n<directory'), /^dirOfXml: malformed XML at line 2: /);
  assertOneLineError(cli('dirOfXml', ['-o', fresh('m')], Buffer.from([0x3c, 0xff, 0x3e])), /^dirOfXml: the XML is not valid UTF-8\n$/);
});

test('a target that exists and is not empty is refused unless forced', () => {
  const xml = doc(fileEl('new.txt', 'new.txt', 'new'));
  const target = fresh('busy');
  mkdirSync(target);
  writeFileSync(join(target, 'old.txt'), 'old');
  assert.throws(() => dirOfXml(xml, target), /is not empty/);
  assertOneLineError(cli('dirOfXml', ['-o', target], xml), /^dirOfXml: .* is not empty/);
  assert.deepEqual(readdirSync(target), ['old.txt'], 'untouched');

  // force replaces the contents, and never follows a symlink that was there into the outside
  const outside = fresh('outside');
  mkdirSync(outside);
  writeFileSync(join(outside, 'keep'), 'keep');
  symlinkSync(outside, join(target, 'link-out'));
  const r = cli('dirOfXml', ['-f', '-o', target], xml);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(readdirSync(target), ['new.txt']);
  assert.equal(readFileSync(join(target, 'new.txt'), 'utf8'), 'new');
  assert.deepEqual(readdirSync(outside), ['keep']);

  const empty = fresh('empty-target');
  mkdirSync(empty);
  dirOfXml(xml, empty);
  assert.deepEqual(readdirSync(empty), ['new.txt']);

  const file = fresh('file-target');
  writeFileSync(file, 'x');
  assert.throws(() => dirOfXml(xml, file, { force: true }), /exists and is not a directory/);
});

test('owners: unknown names are kept in the XML and skipped on restore; mtimes may carry a fraction and Z', () => {
  const xml = doc(`<file path="a" name="a" mode="0600" owner="no-such-user-xyz" group="no-such-group-xyz" mtime="2025-01-01T00:00:01.5Z" size="0" />`);
  const target = fresh('owners');
  dirOfXml(xml, target);
  const st = lstatSync(join(target, 'a'));
  assert.equal(st.mode & 0o7777, 0o600);
  assert.equal(st.mtimeMs, at('2025-01-01T00:00:01.5Z') * 1000);
  assert.equal(Math.floor(lstatSync(target).mtimeMs / 1000), at('2025-01-01T00:00:00Z'), 'the root directory mtime goes on the target');
  assert.ok(existsSync(join(target, 'a')));
});

test("the seed's own XML (3-digit modes) restores", () => {
  const seed = `<filesystem>
  <directory path="/" name="/" mode="755" owner="root" group="root" mtime="2025-01-01T00:00:00">
    <directory path="testdir" name="testdir" mode="755" owner="root" group="root" mtime="2025-01-01T00:00:00" />
    <file path="testfile.txt" name="testfile.txt" mode="644" owner="root" group="root" mtime="2025-01-01T00:00:01" size="14">
      <body>hello llmfuse
</body>
    </file>
  </directory>
</filesystem>
`;
  const target = fresh('seed');
  dirOfXml(seed, target);
  assert.deepEqual(snapshot(target), [
    { path: '', type: 'dir', mode: '755', mtime: at('2025-01-01T00:00:00Z') },
    { path: 'testdir', type: 'dir', mode: '755', mtime: at('2025-01-01T00:00:00Z') },
    { path: 'testfile.txt', type: 'file', mode: '644', mtime: at('2025-01-01T00:00:01Z'), content: Buffer.from('hello llmfuse\n').toString('hex') },
  ]);
  assert.equal(xmlOfDir(target).replace(/mode="0(\d{3})"/g, 'mode="$1"').replace(/(owner|group)="[^"]*"/g, '$1="root"'), seed);
});
