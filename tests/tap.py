"""TAP output for the boot tests that check their own console text."""


def report(results, console_text, argv=None):
    """Prints (ok, description) pairs as TAP; on any failure, the console as comments."""
    print("TAP version 13")
    print(f"1..{len(results)}")
    for i, (ok, desc) in enumerate(results, 1):
        print(f"{'' if ok else 'not '}ok {i} - {desc}")
    if not all(ok for ok, _ in results):
        print("# console output:")
        for line in console_text.split("\n"):
            print("#   " + line)
    if argv:
        print("# qemu: " + " ".join(argv))
