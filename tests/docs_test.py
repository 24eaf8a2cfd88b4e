#!/usr/bin/env python3
"""The manual compiles: every C++ code block of README.md and docs/*.md.

A block fenced ```cpp (or ```c++) is either
  - a whole program (it defines main): compiled, linked with the library of
    this build and run in an empty directory; it must exit 0;
  - a fragment, fenced ```cpp fragment: its #include lines go to file scope
    and the rest becomes the body of `void fragment(txj::Journal* j)` (a
    journal `j` to use, and <chrono>, <iostream>, <memory>, <string>
    included); it must compile.
A ```cpp block that is neither is an error, so a new block is checked too.
Errors point at the Markdown file and line (#line).

  tests/docs_test.py SOURCE_DIR BUILD_DIR CXX SANITIZE
"""
import os
import re
import subprocess
import sys
import tempfile

src, build, cxx, sanitize = sys.argv[1:5]
if sanitize != 'none':
    print('SKIP: the manual compiles the same in the plain build')
    sys.exit(77)

FENCE = re.compile(r'^(\s*)```+\s*(\S*)\s*(.*)$')


def blocks(path):
    """Yields (first line number of the code, info words, code) per C++ block."""
    lines = open(path, encoding='utf-8').read().split('\n')
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        lang, rest = m.group(2).lower(), m.group(3).split()
        start = i + 1
        j = start
        while j < len(lines) and not lines[j].lstrip().startswith('```'):
            j += 1
        if lang in ('cpp', 'c++', 'cxx'):
            yield start + 1, rest, '\n'.join(lines[start:j]) + '\n'
        i = j + 1


def main():
    docs = [os.path.join(src, 'README.md')]
    ddir = os.path.join(src, 'docs')
    docs += sorted(os.path.join(ddir, f) for f in os.listdir(ddir) if f.endswith('.md'))
    inc = ['-I' + os.path.join(src, 'include'), '-I' + os.path.join(build, 'include')]
    libdir = os.path.join(build, 'lib')
    failures, checked = 0, 0
    with tempfile.TemporaryDirectory(prefix='txj-docs-') as work:
        for doc in docs:
            rel = os.path.relpath(doc, src)
            for line, info, code in blocks(doc):
                checked += 1
                where = '%s:%d' % (rel, line)
                is_program = re.search(r'\bint\s+main\s*\(', code) is not None
                unit = os.path.join(work, 'block%d.cc' % checked)
                if 'fragment' in info:
                    includes = [l for l in code.split('\n') if l.lstrip().startswith('#include')]
                    body = '\n'.join(l if not l.lstrip().startswith('#include') else ''
                                     for l in code.split('\n'))
                    text = ('#include <txjournal/journal.h>\n#include <chrono>\n#include <iostream>\n'
                            '#include <memory>\n#include <string>\n' + '\n'.join(includes) + '\n'
                            '[[maybe_unused]] static void fragment([[maybe_unused]] txj::Journal* j) {\n{\n'
                            '#line %d "%s"\n%s}\n}\nint main() { return 0; }\n' % (line, rel, body))
                    cmd = [cxx, '-std=c++20', '-fsyntax-only'] + inc + [unit]
                elif is_program:
                    text = '#line %d "%s"\n%s' % (line, rel, code)
                    exe = unit[:-3]
                    cmd = [cxx, '-std=c++20'] + inc + [unit, '-o', exe, '-L' + libdir, '-ltxjournal',
                                                       '-Wl,-rpath,' + libdir, '-pthread']
                else:
                    print('FAIL %s: a ```cpp block that is neither a whole program (int main) nor marked '
                          '```cpp fragment' % where)
                    failures += 1
                    continue
                open(unit, 'w', encoding='utf-8').write(text)
                r = subprocess.run(cmd, capture_output=True, text=True)
                if r.returncode != 0:
                    print('FAIL %s: does not compile:\n%s' % (where, r.stderr))
                    failures += 1
                    continue
                if is_program and 'fragment' not in info:
                    rundir = tempfile.mkdtemp(dir=work)
                    try:
                        p = subprocess.run([exe], cwd=rundir, capture_output=True, text=True, timeout=60)
                    except subprocess.TimeoutExpired:
                        print('FAIL %s: the program did not end within 60 s' % where)
                        failures += 1
                        continue
                    if p.returncode != 0:
                        print('FAIL %s: the program exited %d:\n%s%s' % (where, p.returncode, p.stdout, p.stderr))
                        failures += 1
                        continue
                    print('ok %s: program compiles and runs' % where)
                else:
                    print('ok %s: fragment compiles' % where)
    print('%d C++ blocks checked, %d failed' % (checked, failures))
    if checked == 0:
        print('FAIL: no C++ block found (the extraction is broken)')
        return 1
    return 1 if failures else 0


sys.exit(main())
