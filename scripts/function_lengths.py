#!/usr/bin/env python3
"""Lists the longest C++ function definitions under the given folders.

    scripts/function_lengths.py lib tools            # the 10 longest
    scripts/function_lengths.py --top 5 --over 80 lib tools

A heuristic, not a parser: comments, string literals and preprocessor lines
are blanked, then every '{' outside a function body whose declaration ends
like a function's (has ')' and is not if/for/while/switch/class/struct/
namespace/enum/an initializer) opens a definition that ends at its matching
'}'. Lambdas and local classes count towards the function around them.
Lines are counted from the declaration's first line to the closing brace.
Exit status 1 when --over is given and some function is longer.
"""
import argparse
import pathlib
import re
import sys

CONTROL = re.compile(r'^\s*(if|for|while|switch|catch|do|else|return|namespace|class|struct|enum|union)\b')


def blank(text):
    return re.sub(r'[^\n]', ' ', text)


def strip(src):
    """The source with comments, literals and preprocessor lines blanked."""
    out, i, n = [], 0, len(src)
    while i < n:
        if src.startswith('//', i):
            j = src.find('\n', i)
            j = n if j < 0 else j
        elif src.startswith('/*', i):
            j = src.find('*/', i + 2)
            j = n if j < 0 else j + 2
        elif src.startswith('R"', i) and re.match(r'R"([^(\s]*)\(', src[i:]):
            end = ')' + re.match(r'R"([^(\s]*)\(', src[i:]).group(1) + '"'
            j = src.find(end, i)
            j = n if j < 0 else j + len(end)
        elif src[i] in '"\'':
            j = i + 1
            while j < n and src[j] != src[i]:
                j += 2 if src[j] == '\\' else 1
            out.append(src[i] + blank(src[i + 1:j]) + src[i])
            i = j + 1
            continue
        else:
            out.append(src[i])
            i += 1
            continue
        out.append(blank(src[i:j]))
        i = j
    return re.sub(r'(?m)^[ \t]*#.*$', lambda m: blank(m.group()), ''.join(out))


def functions(path):
    """(lines, 'file:line', name) of every definition in `path`."""
    src = strip(path.read_text(errors='replace'))
    found, stack, last = [], [], 0  # stack: (is_function, first_line, name)
    for m in re.finditer(r'[{};]', src):
        ch, pos = m.group(), m.start()
        in_function = any(entry[0] for entry in stack)
        if ch == '{':
            decl = src[last:pos]
            text = decl.strip()
            is_function = (not in_function and ')' in text and not CONTROL.match(text) and
                           not text.endswith('='))
            if is_function:
                names = re.findall(r'([~\w:<>]+)\s*\(', text)
                first_line = src.count('\n', 0, last + len(decl) - len(decl.lstrip())) + 1
                stack.append((True, first_line, names[0] if names else '?'))
            else:
                stack.append((False, 0, ''))
            last = pos + 1
        elif ch == '}':
            if stack:
                is_function, first_line, name = stack.pop()
                if is_function:
                    lines = src.count('\n', 0, pos) + 2 - first_line
                    found.append((lines, f'{path}:{first_line}', name))
            last = pos + 1
        elif not in_function:
            last = pos + 1
    return found


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('folders', nargs='+')
    ap.add_argument('--top', type=int, default=10, help='how many to list')
    ap.add_argument('--over', type=int, help='exit 1 if a function has more lines than this')
    args = ap.parse_args()
    found = []
    for folder in args.folders:
        for p in sorted(pathlib.Path(folder).rglob('*')):
            if p.suffix in ('.cc', '.h', '.cpp', '.hpp') and p.is_file():
                found += functions(p)
    found.sort(key=lambda f: -f[0])
    for lines, where, name in found[:args.top]:
        print(f'{lines:5d} {where} {name}')
    if args.over is not None and found and found[0][0] > args.over:
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
