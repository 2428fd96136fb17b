"""Write a synthetic Go module for gopls to load (the live real-gopls test's workspace).

usage: python3 tools/gen_go_module.py DIR [PACKAGES] [FILES_PER_PACKAGE] [FUNCS_PER_FILE]
Packages import each other in a chain and use the standard library, so type-checking does real
work; gopls memory grows with the size chosen (no external modules needed)."""

import os
import sys


def main(root, packages=20, files=5, funcs=40):
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "go.mod"), "w") as f:
        f.write("module example.com/synth\n\ngo 1.21\n")
    for p in range(packages):
        d = os.path.join(root, f"pkg{p:03d}")
        os.makedirs(d, exist_ok=True)
        for k in range(files):
            with open(os.path.join(d, f"file{k}.go"), "w") as f:
                f.write(f'package pkg{p:03d}\n\nimport (\n\t"fmt"\n\t"strings"\n\t"sort"\n')
                if p:
                    f.write(f'\tprev "example.com/synth/pkg{p - 1:03d}"\n')
                f.write(")\n\n")
                for n in range(funcs):
                    name = f"F{k}_{n}"
                    call = f"prev.F{k}_{n}(s)" if p else "len(s)"
                    f.write(
                        f"type T{k}_{n} struct "
                        "{ Name string; Vals []int; M map[string]float64 }\n\n"
                        f'func {name}(s string) int {{\n\tparts := strings.Split(s, ",")\n'
                        f"\tsort.Strings(parts)\n\tt := T{k}_{n}{{Name: fmt.Sprint(parts)}}\n"
                        f"\treturn len(t.Name) + {call}\n}}\n\n"
                    )


if __name__ == "__main__":
    a = sys.argv[1:]
    if not a or a[0].startswith("-"):
        sys.exit(__doc__)
    main(a[0], *(int(x) for x in a[1:]))
