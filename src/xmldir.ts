// Directory trees as one XML document in the llmfuse shape, and back, byte for byte.
//
// The dialect (one element per line, two spaces of indent per level, attributes always in this order):
//
//   <filesystem>
//     <directory path="/" name="/" mode="0755" owner="root" group="root" mtime="2025-01-01T00:00:00">
//       <directory path="testdir" name="testdir" mode="0755" owner="root" group="root" mtime="2025-01-01T00:00:00" />
//       <file path="testfile.txt" name="testfile.txt" mode="0644" owner="root" group="root" mtime="2025-01-01T00:00:01" size="14">
//         <body>hello llmfuse
//   </body>
//       </file>
//       <file path="blob" name="blob" mode="0600" owner="root" group="root" mtime="2025-01-01T00:00:01" size="3" encoding="base64">
//         <body>AP/+</body>
//       </file>
//       <file path="empty" name="empty" mode="0644" owner="root" group="root" mtime="2025-01-01T00:00:01" size="0" />
//       <symlink path="link" name="link" owner="root" group="root" mtime="2025-01-01T00:00:01" target="testfile.txt" />
//     </directory>
//   </filesystem>
//
// - Entries are sorted by the bytes of their names, so one tree always gives one document.
// - `path` is relative to the root (the root itself is "/"); it is redundant with the nesting and checked against it.
// - `mode` is the permission bits (with setuid/setgid/sticky) as 4 octal digits; symlinks have none (always 0777 on Linux).
// - `owner`/`group` are names from /etc/passwd and /etc/group, or the decimal id where the id has no name.
// - `mtime` is UTC to the whole second, written YYYY-MM-DDTHH:MM:SS as in the seed (no zone letter); fractions of a
//   second are dropped, as in a GNU tar archive. The parser also accepts a fraction and a trailing Z.
// - `size` is the body's length in bytes and is checked on reading.
// - A body is text when it is valid UTF-8 (a BOM is kept as a character) made only of characters XML 1.0 can carry;
//   & < > are escaped, and so is CR (as &#13;), so that any XML parser, which would normalise CRLF to LF, still reads
//   the same bytes; tab and LF stay literal. Any other body (invalid UTF-8, NUL or other C0 controls, U+FFFE/U+FFFF)
//   is written in base64 on one line, with encoding="base64". An empty file has no body and is self-closing.
// - In attribute values & < > " are escaped, and so are tab, LF and CR (as character references).
// - Not recorded: hard links (each name gets its own copy), sparse holes, xattrs and ACLs, atime and ctime.
//   Devices, sockets and FIFOs are refused, as are names and link targets that are not valid UTF-8 or hold
//   characters XML 1.0 cannot carry.
//
// Restoring: contents first, then each file's owner, mode and mtime; symlinks are made after every file and
// directory (never followed: lchown, lutimes); directories get their owner, mode and mtime last, deepest first.
// Owner and group are restored only when running as root (or when asked) and the name exists here (a numeric id is
// used as is); otherwise they stay recorded in the XML and are skipped.
import {
  closeSync, fchmodSync, fchownSync, futimesSync, lchownSync, lstatSync, lutimesSync, mkdirSync, openSync,
  readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, chmodSync, chownSync, utimesSync,
  writeSync, type Stats,
} from 'node:fs';
import { join } from 'node:path';
import { UserError } from './cli.ts';

/** One entry of a tree, as read from the XML. */
export type XmlEntry = XmlDirectory | XmlFile | XmlSymlink;
interface XmlMeta {
  path: string;
  name: string;
  owner: string;
  group: string;
  /** Seconds since the epoch (UTC). */
  mtime: number;
}
export interface XmlDirectory extends XmlMeta { kind: 'directory'; mode: number; children: XmlEntry[] }
export interface XmlFile extends XmlMeta { kind: 'file'; mode: number; body: Buffer }
export interface XmlSymlink extends XmlMeta { kind: 'symlink'; target: string }

export interface DirOfXmlOptions {
  /** Replace the contents of a target directory that is not empty (otherwise that is refused). */
  force?: boolean;
  /** Restore owner and group; by default only when running as root. */
  owners?: boolean;
}

// Characters XML 1.0 cannot carry at all (also lone surrogates, which the `u` flag sees as code points).
const NOT_XML_CHAR = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// ---------------------------------------------------------------------------------------------- writing

/** Walks the directory `root` and returns the whole tree as one XML document. */
export function xmlOfDir(root: string): string {
  const st = fsCall(`cannot read ${root}`, () => statSync(root));
  if (!st.isDirectory()) throw new UserError(`${root} is not a directory`);
  const ids = new IdNames();
  const out: string[] = ['<filesystem>\n'];
  writeDirectory(out, ids, root, '/', '/', st, 1);
  out.push('</filesystem>\n');
  return out.join('');
}

function writeDirectory(out: string[], ids: IdNames, abs: string, path: string, name: string, st: Stats, depth: number): void {
  const indent = '  '.repeat(depth);
  const open = `${indent}<directory ${commonAttrs(ids, path, name, st, true)}`;
  const names = fsCall(`cannot list ${abs}`, () => readdirSync(abs, { encoding: 'buffer' })).sort(Buffer.compare);
  if (names.length === 0) {
    out.push(`${open} />\n`);
    return;
  }
  out.push(`${open}>\n`);
  for (const raw of names) {
    const childName = checkedName(raw, abs);
    const childAbs = join(abs, childName);
    const childPath = path === '/' ? childName : `${path}/${childName}`;
    const cst = fsCall(`cannot read ${childAbs}`, () => lstatSync(childAbs));
    const inner = indent + '  ';
    if (cst.isDirectory()) {
      writeDirectory(out, ids, childAbs, childPath, childName, cst, depth + 1);
    } else if (cst.isFile()) {
      const body = fsCall(`cannot read ${childAbs}`, () => readFileSync(childAbs));
      const attrs = `${commonAttrs(ids, childPath, childName, cst, true)} size="${body.length}"`;
      if (body.length === 0) {
        out.push(`${inner}<file ${attrs} />\n`);
        continue;
      }
      const text = xmlText(body);
      if (text !== undefined) out.push(`${inner}<file ${attrs}>\n${inner}  <body>${escapeText(text)}</body>\n${inner}</file>\n`);
      else out.push(`${inner}<file ${attrs} encoding="base64">\n${inner}  <body>${body.toString('base64')}</body>\n${inner}</file>\n`);
    } else if (cst.isSymbolicLink()) {
      const rawTarget = fsCall(`cannot read ${childAbs}`, () => readlinkSync(childAbs, { encoding: 'buffer' }));
      const target = xmlText(rawTarget);
      if (target === undefined) throw new UserError(`${childAbs}: symlink target is not valid UTF-8 or holds characters XML cannot carry`);
      out.push(`${inner}<symlink ${commonAttrs(ids, childPath, childName, cst, false)} target="${escapeAttr(target)}" />\n`);
    } else {
      throw new UserError(`${childAbs}: cannot represent ${kindOf(cst)}`);
    }
  }
  out.push(`${indent}</directory>\n`);
}

function commonAttrs(ids: IdNames, path: string, name: string, st: Stats, withMode: boolean): string {
  const mode = withMode ? ` mode="${(st.mode & 0o7777).toString(8).padStart(4, '0')}"` : '';
  const owner = escapeAttr(ids.user(st.uid));
  const group = escapeAttr(ids.group(st.gid));
  return `path="${escapeAttr(path)}" name="${escapeAttr(name)}"${mode} owner="${owner}" group="${group}" mtime="${formatMtime(st.mtimeMs)}"`;
}

function checkedName(raw: Buffer, dir: string): string {
  const name = xmlText(raw);
  if (name === undefined) {
    throw new UserError(`${dir}: the name ${JSON.stringify(raw.toString('utf8'))} is not valid UTF-8 or holds characters XML cannot carry`);
  }
  return name;
}

function kindOf(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'this kind of file';
}

/** The bytes as a string when they are valid UTF-8 made only of characters XML can carry, else undefined. */
function xmlText(bytes: Uint8Array): string | undefined {
  let s: string;
  try {
    s = utf8.decode(bytes);
  } catch {
    return undefined;
  }
  return NOT_XML_CHAR.test(s) ? undefined : s;
}

const TEXT_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '\r': '&#13;' };
const ATTR_ESCAPES: Record<string, string> = { ...TEXT_ESCAPES, '"': '&quot;', '\t': '&#9;', '\n': '&#10;' };
const escapeText = (s: string): string => s.replace(/[&<>\r]/g, (c) => TEXT_ESCAPES[c]!);
const escapeAttr = (s: string): string => s.replace(/[&<>"\t\n\r]/g, (c) => ATTR_ESCAPES[c]!);

function formatMtime(mtimeMs: number): string {
  const iso = new Date(Math.floor(mtimeMs / 1000) * 1000).toISOString();
  if (!/^\d{4}-/.test(iso)) throw new UserError(`mtime ${iso} is outside the years 0000-9999`);
  return iso.slice(0, 19);
}

/** Owner and group names from /etc/passwd and /etc/group, both ways; numbers where no name is known. */
class IdNames {
  private users?: IdTable;
  private groups?: IdTable;
  user(id: number): string { return (this.users ??= readIdTable('/etc/passwd')).byId.get(id) ?? String(id); }
  group(id: number): string { return (this.groups ??= readIdTable('/etc/group')).byId.get(id) ?? String(id); }
  uid(name: string): number | undefined { return idOf(name, (this.users ??= readIdTable('/etc/passwd'))); }
  gid(name: string): number | undefined { return idOf(name, (this.groups ??= readIdTable('/etc/group'))); }
}
interface IdTable { byId: Map<number, string>; byName: Map<string, number> }

function readIdTable(file: string): IdTable {
  const table: IdTable = { byId: new Map(), byName: new Map() };
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return table;
  }
  for (const line of text.split('\n')) {
    const [name, , id] = line.split(':');
    if (!name || id === undefined || !/^\d+$/.test(id)) continue;
    if (!table.byId.has(Number(id))) table.byId.set(Number(id), name);
    if (!table.byName.has(name)) table.byName.set(name, Number(id));
  }
  return table;
}

function idOf(name: string, table: IdTable): number | undefined {
  if (/^\d+$/.test(name)) return Number(name);
  return table.byName.get(name);
}

// ---------------------------------------------------------------------------------------------- parsing

interface Element {
  name: string;
  attrs: Map<string, string>;
  children: Element[];
  /** The decoded text directly inside the element. */
  text: string;
  pos: number;
}

/** Parses and checks a document of this dialect, returning its root directory. Throws UserError when malformed. */
export function parseXmlDir(xml: string | Uint8Array): XmlDirectory {
  const text = typeof xml === 'string' ? xml : decodeDocument(xml);
  const root = new Parser(text).document();
  const where = (el: Element) => `XML line ${lineOf(text, el.pos)}`;
  if (root.name !== 'filesystem') throw new UserError(`${where(root)}: the root element is <${root.name}>, expected <filesystem>`);
  if (root.attrs.size > 0) throw new UserError(`${where(root)}: <filesystem> takes no attributes`);
  onlySpace(root, where);
  if (root.children.length !== 1 || root.children[0]!.name !== 'directory') {
    throw new UserError(`${where(root)}: <filesystem> must hold exactly one <directory path="/" name="/">`);
  }
  const top = root.children[0]!;
  if (top.attrs.get('path') !== '/' || top.attrs.get('name') !== '/') {
    throw new UserError(`${where(top)}: the top <directory> must have path="/" and name="/"`);
  }
  return toEntry(top, undefined, where) as XmlDirectory;
}

function decodeDocument(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new UserError('the XML is not valid UTF-8');
  }
}

const ATTRS: Record<string, { required: string[]; optional: string[] }> = {
  directory: { required: ['path', 'name', 'mode', 'owner', 'group', 'mtime'], optional: [] },
  file: { required: ['path', 'name', 'mode', 'owner', 'group', 'mtime', 'size'], optional: ['encoding'] },
  symlink: { required: ['path', 'name', 'owner', 'group', 'mtime', 'target'], optional: [] },
};

function toEntry(el: Element, parentPath: string | undefined, where: (el: Element) => string): XmlEntry {
  const spec = ATTRS[el.name];
  if (spec === undefined) throw new UserError(`${where(el)}: unexpected element <${el.name}>`);
  for (const key of el.attrs.keys()) {
    if (!spec.required.includes(key) && !spec.optional.includes(key)) throw new UserError(`${where(el)}: <${el.name}> has an unknown attribute ${key}`);
  }
  for (const key of spec.required) {
    if (!el.attrs.has(key)) throw new UserError(`${where(el)}: <${el.name}> lacks the attribute ${key}`);
  }
  const attr = (key: string) => el.attrs.get(key)!;
  const name = attr('name');
  const path = attr('path');
  if (parentPath !== undefined) checkPlace(name, path, parentPath, (msg) => new UserError(`${where(el)}: ${msg}`));
  const mtime = parseMtime(attr('mtime'));
  if (mtime === undefined) throw new UserError(`${where(el)}: mtime ${JSON.stringify(attr('mtime'))} is not YYYY-MM-DDTHH:MM:SS`);
  const meta: XmlMeta = { path, name, owner: attr('owner'), group: attr('group'), mtime };
  const mode = () => {
    if (!/^[0-7]{3,4}$/.test(attr('mode'))) throw new UserError(`${where(el)}: mode ${JSON.stringify(attr('mode'))} is not 3 or 4 octal digits`);
    return parseInt(attr('mode'), 8);
  };

  if (el.name === 'symlink') {
    if (el.children.length > 0 || el.text.trim() !== '') throw new UserError(`${where(el)}: <symlink> must be empty`);
    if (attr('target') === '') throw new UserError(`${where(el)}: <symlink> has an empty target`);
    return { kind: 'symlink', ...meta, target: attr('target') };
  }
  if (el.name === 'directory') {
    onlySpace(el, where);
    const seen = new Set<string>();
    const children = el.children.map((child) => {
      const entry = toEntry(child, path, where);
      if (seen.has(entry.name)) throw new UserError(`${where(child)}: duplicate entry ${JSON.stringify(entry.path)}`);
      seen.add(entry.name);
      return entry;
    });
    return { kind: 'directory', ...meta, mode: mode(), children };
  }
  // file
  onlySpace(el, where);
  const size = attr('size');
  if (!/^(0|[1-9]\d*)$/.test(size)) throw new UserError(`${where(el)}: size ${JSON.stringify(size)} is not a whole number`);
  const encoding = el.attrs.get('encoding');
  if (encoding !== undefined && encoding !== 'base64') throw new UserError(`${where(el)}: unknown encoding ${JSON.stringify(encoding)}`);
  if (el.children.length > 1 || (el.children.length === 1 && el.children[0]!.name !== 'body')) {
    throw new UserError(`${where(el)}: <file> may hold only one <body>`);
  }
  const bodyEl = el.children[0];
  let body: Buffer = Buffer.alloc(0);
  if (bodyEl !== undefined) {
    if (bodyEl.attrs.size > 0 || bodyEl.children.length > 0) throw new UserError(`${where(bodyEl)}: <body> holds only text`);
    body = encoding === 'base64' ? decodeBase64(bodyEl.text, () => new UserError(`${where(bodyEl)}: the body is not valid base64`)) : Buffer.from(bodyEl.text, 'utf8');
  }
  if (body.length !== Number(size)) throw new UserError(`${where(el)}: size="${size}" but the body has ${body.length} bytes`);
  return { kind: 'file', ...meta, mode: mode(), body };
}

function checkPlace(name: string, path: string, parentPath: string, err: (msg: string) => Error): void {
  if (path.startsWith('/')) throw err(`absolute path ${JSON.stringify(path)}`);
  if (path.split('/').some((part) => part === '..')) throw err(`path ${JSON.stringify(path)} escapes the target with ..`);
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) throw err(`bad name ${JSON.stringify(name)}`);
  const expected = parentPath === '/' ? name : `${parentPath}/${name}`;
  if (path !== expected) throw err(`path ${JSON.stringify(path)} does not match its place in the tree (${JSON.stringify(expected)})`);
}

function onlySpace(el: Element, where: (el: Element) => string): void {
  if (/[^ \t\r\n]/.test(el.text)) throw new UserError(`${where(el)}: unexpected text inside <${el.name}>`);
}

function decodeBase64(text: string, err: () => Error): Buffer {
  const compact = text.replace(/[ \t\r\n]/g, '');
  if (compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) throw err();
  const bytes = Buffer.from(compact, 'base64');
  if (bytes.toString('base64') !== compact) throw err();
  return bytes;
}

/** Seconds since the epoch of YYYY-MM-DDTHH:MM:SS[.fraction][Z] in UTC, or undefined. */
function parseMtime(s: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?Z?$/.exec(s);
  if (m === null) return undefined;
  const [y, mo, d, h, mi, se] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d);
  date.setUTCHours(h, mi, se, 0);
  const back = [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate(), date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()];
  if (back.some((v, i) => v !== [y, mo, d, h, mi, se][i])) return undefined;
  return date.getTime() / 1000 + (m[7] === undefined ? 0 : Number(`0${m[7]}`));
}

function lineOf(text: string, pos: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < pos; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

/** A parser for the subset of XML this dialect uses: elements, attributes, text, the five entities, character references. */
class Parser {
  private pos = 0;
  constructor(private readonly s: string) {}

  private fail(msg: string, at = this.pos): never {
    throw new UserError(`malformed XML at line ${lineOf(this.s, at)}: ${msg}`);
  }

  document(): Element {
    const bad = NOT_XML_CHAR.exec(this.s);
    if (bad !== null) this.fail(`character U+${bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')} is not allowed in XML`, bad.index);
    if (this.s.trim() === '') this.fail('the document is empty');
    if (this.s.startsWith('\uFEFF')) this.pos = 1;
    if (this.s.startsWith('<?xml', this.pos)) {
      const end = this.s.indexOf('?>', this.pos);
      if (end === -1) this.fail('unterminated XML declaration');
      this.pos = end + 2;
    }
    this.space();
    const root = this.element();
    this.space();
    if (this.pos < this.s.length) this.fail('content after the root element');
    return root;
  }

  private space(): void {
    while (this.pos < this.s.length && ' \t\r\n'.includes(this.s[this.pos]!)) this.pos++;
  }

  private nameToken(): string {
    const m = /[A-Za-z_][A-Za-z0-9_.-]*/y;
    m.lastIndex = this.pos;
    const r = m.exec(this.s);
    if (r === null) this.fail('expected a name');
    this.pos += r[0].length;
    return r[0];
  }

  private element(): Element {
    const start = this.pos;
    if (this.s[this.pos] !== '<') this.fail('expected an element');
    this.pos++;
    if (this.s[this.pos] === '!' || this.s[this.pos] === '?') this.fail('comments, CDATA, DOCTYPE and processing instructions are not part of this dialect');
    const el: Element = { name: this.nameToken(), attrs: new Map(), children: [], text: '', pos: start };
    for (;;) {
      const before = this.pos;
      this.space();
      if (this.s.startsWith('/>', this.pos)) {
        this.pos += 2;
        return el;
      }
      if (this.s[this.pos] === '>') {
        this.pos++;
        break;
      }
      if (this.pos === before) this.fail(`expected an attribute, > or /> in <${el.name}>`);
      const key = this.nameToken();
      this.space();
      if (this.s[this.pos] !== '=') this.fail(`expected = after ${key}`);
      this.pos++;
      this.space();
      const quote = this.s[this.pos];
      if (quote !== '"' && quote !== "'") this.fail(`expected a quoted value for ${key}`);
      const end = this.s.indexOf(quote, this.pos + 1);
      if (end === -1) this.fail(`unterminated value for ${key}`);
      const raw = this.s.slice(this.pos + 1, end);
      if (raw.includes('<')) this.fail(`< in the value of ${key}`);
      if (el.attrs.has(key)) this.fail(`duplicate attribute ${key}`);
      // XML normalises literal whitespace in attribute values to spaces; escaped forms are kept.
      el.attrs.set(key, this.decode(raw.replace(/\r\n|[\t\n\r]/g, ' '), this.pos + 1));
      this.pos = end + 1;
    }
    const text: string[] = [];
    for (;;) {
      const lt = this.s.indexOf('<', this.pos);
      if (lt === -1) this.fail(`<${el.name}> is not closed`, start);
      if (lt > this.pos) {
        const raw = this.s.slice(this.pos, lt);
        if (raw.includes(']]>')) this.fail(']]> in text', this.pos + raw.indexOf(']]>'));
        text.push(this.decode(raw, this.pos));
      }
      this.pos = lt;
      if (this.s.startsWith('</', this.pos)) {
        this.pos += 2;
        const closing = this.nameToken();
        if (closing !== el.name) this.fail(`</${closing}> closes <${el.name}>`);
        this.space();
        if (this.s[this.pos] !== '>') this.fail(`expected > after </${closing}`);
        this.pos++;
        el.text = text.join('');
        return el;
      }
      el.children.push(this.element());
    }
  }

  /** Replaces entity and character references; `at` is where `raw` starts, for errors. */
  private decode(raw: string, at: number): string {
    if (!raw.includes('&')) return raw;
    return raw.replace(/&([^;&]*)(;?)/g, (whole, ref: string, semi: string, off: number) => {
      if (semi !== ';') this.fail('& that starts no reference (write &amp;)', at + off);
      switch (ref) {
        case 'amp': return '&';
        case 'lt': return '<';
        case 'gt': return '>';
        case 'quot': return '"';
        case 'apos': return "'";
      }
      const m = /^#(?:x([0-9A-Fa-f]+)|([0-9]+))$/.exec(ref);
      if (m === null) this.fail(`unknown reference ${whole}`, at + off);
      const code = m[1] !== undefined ? parseInt(m[1], 16) : parseInt(m[2]!, 10);
      const ch = code <= 0x10ffff ? String.fromCodePoint(code) : '';
      if (ch === '' || NOT_XML_CHAR.test(ch)) this.fail(`${whole} is not a character XML can carry`, at + off);
      return ch;
    });
  }
}

// ---------------------------------------------------------------------------------------------- restoring

/**
 * Restores the tree described by `xml` into `target`, which must not exist or be an empty directory (or, with
 * `force`, a directory whose contents are replaced). The whole document is checked before anything is written.
 */
export function dirOfXml(xml: string | Uint8Array, target: string, options: DirOfXmlOptions = {}): void {
  const root = parseXmlDir(xml);
  const created = prepareTarget(target, options.force ?? false);
  const owners = options.owners ?? process.getuid?.() === 0;
  try {
    restore(root, target, owners ? new IdNames() : undefined);
  } catch (err) {
    try { // leave nothing half-written behind
      if (created) rmSync(target, { recursive: true, force: true });
      else for (const name of readdirSync(target)) rmSync(join(target, name), { recursive: true, force: true });
    } catch {
      // the restore error below says more than a failed cleanup would
    }
    throw err;
  }
}

/** Makes sure `target` is an empty directory; returns whether it was created here. */
function prepareTarget(target: string, force: boolean): boolean {
  let st: Stats;
  try {
    st = statSync(target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(`cannot use ${target}`, err);
    fsCall(`cannot create ${target}`, () => mkdirSync(target, { recursive: true, mode: 0o700 }));
    return true;
  }
  if (!st.isDirectory()) throw new UserError(`${target} exists and is not a directory`);
  const names = fsCall(`cannot list ${target}`, () => readdirSync(target));
  if (names.length > 0) {
    if (!force) throw new UserError(`${target} is not empty (force replaces its contents)`);
    for (const name of names) fsCall(`cannot remove ${join(target, name)}`, () => rmSync(join(target, name), { recursive: true, force: true }));
  }
  return false;
}

function restore(root: XmlDirectory, target: string, ids: IdNames | undefined): void {
  const symlinks: { abs: string; entry: XmlSymlink }[] = [];
  const dirs: { abs: string; entry: XmlDirectory }[] = [];
  const owner = (e: XmlMeta): [number, number] => [ids?.uid(e.owner) ?? -1, ids?.gid(e.group) ?? -1];

  const walk = (dir: XmlDirectory, abs: string): void => {
    for (const entry of dir.children) {
      const childAbs = join(abs, entry.name);
      if (entry.kind === 'directory') {
        fsCall(`cannot create ${childAbs}`, () => mkdirSync(childAbs, { mode: 0o700 }));
        walk(entry, childAbs);
      } else if (entry.kind === 'file') {
        fsCall(`cannot write ${childAbs}`, () => {
          const fd = openSync(childAbs, 'wx', 0o600); // O_EXCL: never reuses or follows anything already there
          try {
            for (let off = 0; off < entry.body.length; ) off += writeSync(fd, entry.body, off);
            const [uid, gid] = owner(entry);
            if (ids !== undefined && (uid !== -1 || gid !== -1)) fchownSync(fd, uid, gid);
            fchmodSync(fd, entry.mode);
            futimesSync(fd, entry.mtime, entry.mtime);
          } finally {
            closeSync(fd);
          }
        });
      } else {
        symlinks.push({ abs: childAbs, entry });
      }
    }
    dirs.push({ abs, entry: dir }); // post-order: deepest first
  };
  walk(root, target);

  for (const { abs, entry } of symlinks) {
    fsCall(`cannot create the symlink ${abs}`, () => {
      symlinkSync(entry.target, abs);
      const [uid, gid] = owner(entry);
      if (ids !== undefined && (uid !== -1 || gid !== -1)) lchownSync(abs, uid, gid);
      lutimesSync(abs, entry.mtime, entry.mtime);
    });
  }
  for (const { abs, entry } of dirs) {
    fsCall(`cannot set the metadata of ${abs}`, () => {
      const [uid, gid] = owner(entry);
      if (ids !== undefined && (uid !== -1 || gid !== -1)) chownSync(abs, uid, gid);
      chmodSync(abs, entry.mode);
      utimesSync(abs, entry.mtime, entry.mtime);
    });
  }
}

function fsCall<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw fsError(what, err);
  }
}

function fsError(what: string, err: unknown): Error {
  if (err instanceof UserError) return err;
  return new UserError(`${what}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
}
