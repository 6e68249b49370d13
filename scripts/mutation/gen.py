"""Mutants of C++ source lines, and the schema file that holds them all.

A mutant is one small change at one place: a relational operator swapped
(< <=, > >=, == !=), an arithmetic one (+ -, << >>, += -=), && for ||, an
integer constant moved by one, a condition forced true or false, an
expression statement deleted, or a returned value replaced by {} (zero,
false, nullptr). Only code inside function bodies is mutated, never a
preprocessor line, a static_assert or a case label.

Every mutant of a file goes into one schema of that file: each change is
guarded by MM_MUT(id), true only while the binary runs mutant `id`, e.g.
`a < b` becomes `(MM_MUT(7) ? (a <= b) : (a < b))`. So one build serves all
of a file's mutants, and the schema keeps every line where it was (the
mutated copy of a span is written on the span's first line), so compiler
errors and __LINE__ point at the original lines.
"""
import hashlib
import re

PRELUDE = """\
#ifndef MM_MUTANT_PRELUDE
#define MM_MUTANT_PRELUDE
#ifdef MM_MUTANT_FIXED
#define MM_MUT(id) ((id) == MM_MUTANT_FIXED)
#else
extern "C" long mm_mutant_active;
extern "C" unsigned char mm_mutant_tracing;
extern "C" void mm_mutant_reached(unsigned id);
static inline bool mm_mutant_hit(unsigned id) {
  if (__builtin_expect(mm_mutant_tracing, 0)) mm_mutant_reached(id);
  return mm_mutant_active == (long)id;
}
#define MM_MUT(id) (!__builtin_is_constant_evaluated() && mm_mutant_hit(id))
#endif
#endif
"""

# ---------------------------------------------------------------- tokens

TOKEN = re.compile(r"""
    (?P<ws>(?:[ \t\r\n]|\\\n)+)
  | (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<string>(?:u8|u|U|L)?R"(?P<delim>[^(\s]*)\(.*?\)(?P=delim)"|(?:u8|u|U|L)?"(?:\\.|[^"\\\n])*")
  | (?P<char>(?:u8|u|U|L)?'(?:\\.|[^'\\\n])*')
  | (?P<number>(?:0[xX][0-9a-fA-F']+|0[bB][01']+|\d[\d']*(?:\.\d*)?(?:[eE][+-]?\d+)?)[uUlLfF]*|\.\d+(?:[eE][+-]?\d+)?[fFlL]?)
  | (?P<ident>[A-Za-z_]\w*)
  | (?P<op>::|->\*?|\.\.\.|<<=|>>=|<=>|<<|>>|<=|>=|==|!=|&&|\|\||\+\+|--|[-+*/%&|^!=<>]=|[-+*/%&|^!~=<>?:;,.(){}\[\]#])
    """, re.S | re.X)


class Tok:
    __slots__ = ("kind", "text", "start", "end", "line", "pp")

    def __init__(self, kind, text, start, end, line, pp):
        self.kind, self.text, self.start, self.end, self.line, self.pp = kind, text, start, end, line, pp

    def __repr__(self):
        return f"{self.text}@{self.line}"


def tokenize(src):
    """Significant tokens (no blanks, no comments), each with its line and
    whether it sits on a preprocessor line."""
    toks, pos, line, pp = [], 0, 1, False
    line_start_blank = True
    while pos < len(src):
        m = TOKEN.match(src, pos)
        if not m:
            raise ValueError(f"line {line}: cannot read {src[pos:pos + 20]!r}")
        kind, text = m.lastgroup, m.group(0)
        if kind == "delim":
            kind = "string"
        if kind in ("ws", "comment"):
            nl = text.count("\n")
            if nl:
                # A preprocessor line ends at a newline without a backslash.
                if pp and not src[:m.start() + text.index("\n")].endswith("\\"):
                    pp = False
                line_start_blank = True
        else:
            if text == "#" and line_start_blank:
                pp = True
            line_start_blank = False
            toks.append(Tok(kind, text, m.start(), m.end(), line, pp))
        line += text.count("\n")
        pos = m.end()
    return toks


# ---------------------------------------------------------------- where code is

CONTROL = {"if", "for", "while", "switch", "catch"}


def function_body_ranges(toks):
    """[(open, close)] token indexes of every outermost function body."""
    out, stack = [], []  # stack of (index, is_function_body_start)
    depth_in_func = None
    for i, t in enumerate(toks):
        if t.pp:
            continue
        if t.text == "{":
            is_func = False
            if depth_in_func is None:
                j = i - 1
                while j >= 0 and toks[j].text in ("const", "noexcept", "override", "final", "mutable") or (
                        j >= 0 and toks[j].kind == "ident" and toks[j - 1].text == "->"):
                    j -= 2 if toks[j - 1].text == "->" else 1
                # A lambda's or function's parameter list; "-> type" is skipped above.
                is_func = j >= 0 and toks[j].text == ")"
            stack.append(i)
            if is_func:
                depth_in_func = len(stack)
        elif t.text == "}":
            if not stack:
                continue
            opened = stack.pop()
            if depth_in_func is not None and len(stack) + 1 == depth_in_func:
                out.append((opened, i))
                depth_in_func = None
    return out


# ---------------------------------------------------------------- operands

# Tokens that end an operand on the left of a binary operator of the given
# precedence (C++'s, larger binds tighter).
PREC = {"*": 13, "/": 13, "%": 13, "+": 12, "-": 12, "<<": 11, ">>": 11, "<": 9, "<=": 9, ">": 9, ">=": 9,
        "==": 8, "!=": 8, "&": 7, "^": 6, "|": 5, "&&": 4, "||": 3}
ASSIGN = {"=", "+=", "-=", "*=", "/=", "%=", "<<=", ">>=", "&=", "|=", "^="}
OPEN = {"(": ")", "[": "]", "{": "}"}
CLOSE = {v: k for k, v in OPEN.items()}
SIZEOF_LIKE = {"sizeof", "alignof", "__alignof__", "_Alignof"}
STOP_WORDS = {"return", "case", "throw", "else", "do", "co_return", "co_yield", "new", "delete", "sizeof"}


def operand_end(t):
    return t.kind in ("ident", "number", "string", "char") or t.text in (")", "]")


def is_binary(toks, i):
    return i > 0 and operand_end(toks[i - 1]) and toks[i - 1].text not in STOP_WORDS


def expect_hint(toks, i, lo):
    """Whether the constant at i is __builtin_expect's expected value: a
    branch-layout hint, so every change to it is equivalent."""
    if toks[i - 1].text != "," or toks[i + 1].text != ")":
        return False
    opening = _match_back(toks, i + 1, lo)
    return opening > lo and toks[opening - 1].text == "__builtin_expect"


def _match_back(toks, j, lo):
    """Index of the bracket that opens the one closing at j (or lo)."""
    depth = 0
    while j > lo:
        if toks[j].text in CLOSE:
            depth += 1
        elif toks[j].text in OPEN:
            depth -= 1
            if depth == 0:
                return j
        j -= 1
    return lo


def left_extent(toks, i, prec, lo):
    """Index of the first token of the left operand of the operator at i."""
    j = i - 1
    while j > lo:
        t = toks[j]
        if t.text in (")", "]"):
            k = _match_back(toks, j, lo)
            if t.text == ")" and k > lo and (toks[k - 1].text in CONTROL or (
                    toks[k - 1].kind == "ident" and toks[j + 1].kind == "ident")):
                # The header of an if, while, for or switch, or of a loop macro
                # (for_each_zone(...) x += ...): a ) followed by a name is no cast.
                return j + 1
            # sizeof(T) or alignof(T) is one operand: the name goes with it
            # (else `sizeof(void *) - 1` would read as a cast of -1).
            j = k - 2 if t.text == ")" and k > lo and toks[k - 1].text in SIZEOF_LIKE else k - 1
            continue
        if t.text == ">" and _closes_template(toks, j):
            k = j - 1
            depth = 1
            while k > lo and depth:
                depth += {">": 1, "<": -1, ">>": 2}.get(toks[k].text, 0)
                k -= 1
            j = k
            continue
        if t.text in OPEN or t.text in ("}", ";", ",", "?", ":") or t.text in ASSIGN or t.text in STOP_WORDS:
            return j + 1
        p = PREC.get(t.text)
        if p is not None and p < prec and is_binary(toks, j):
            return j + 1
        j -= 1
    return j + 1


def right_extent(toks, i, prec, hi):
    """Index just past the last token of the right operand of the operator at i."""
    j = i + 1
    while j < hi:
        t = toks[j]
        if t.text in OPEN:
            j = _match(toks, j) + 1
            continue
        if t.text == "<" and template_bracket(toks, j, hi):
            depth = 0
            while j < hi:
                depth += {"<": 1, ">": -1, ">>": -2}.get(toks[j].text, 0)
                j += 1
                if depth <= 0:
                    break
            continue
        if t.text in CLOSE or t.text in (";", ",", "?", ":") or t.text in ASSIGN:
            return j
        p = PREC.get(t.text)
        if p is not None and p <= prec and is_binary(toks, j):
            return j
        j += 1
    return j


def template_bracket(toks, i, hi):
    """True when the < at i opens a template argument list (a guess: a
    matching > with only type-like tokens between, followed by what can
    follow a template-id)."""
    prev = toks[i - 1] if i else None
    if prev is None or prev.kind != "ident":
        return prev is not None and prev.text == "template"
    if prev.text.endswith("_cast") or prev.text in ("template", "operator"):
        return True
    depth, j = 0, i
    while j < hi and j < i + 40:
        t = toks[j]
        if t.text == "<":
            depth += 1
        elif t.text == ">":
            depth -= 1
            if depth == 0:
                nxt = toks[j + 1].text if j + 1 < hi else ""
                return nxt in ("(", "::", "{", ")", ",", ";", ">", "*", "&", "&&") or toks[j + 1].kind == "ident"
        elif t.text == ">>":
            depth -= 2
            if depth <= 0:
                return True
        elif t.text in ("(", ")", ";", "{", "}", "&&", "||", "?", "==", "!=", "<=", ">=", "+", "-", "/", "%",
                        "!") or t.kind in ("string", "char"):
            return False
        j += 1
    return False


# ---------------------------------------------------------------- mutants

SWAP = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "==", "+": "-", "-": "+", "<<": ">>",
        ">>": "<<", "&&": "||", "||": "&&", "+=": "-=", "-=": "+="}
OPERATOR_NAMES = {"<": "ror", "<=": "ror", ">": "ror", ">=": "ror", "==": "ror", "!=": "ror", "+": "aor", "-": "aor",
                  "<<": "aor", ">>": "aor", "+=": "aor", "-=": "aor", "&&": "lcr", "||": "lcr"}


class Mutant:
    """One change: tokens [lo, hi) are replaced, when active, by `text`."""

    def __init__(self, op, lo, hi, text, desc):
        self.op, self.lo, self.hi, self.text, self.desc = op, lo, hi, text, desc
        self.id = self.file = self.line = self.key = self.original = None


def span_text(toks, lo, hi, replace=None):
    """The source of tokens [lo, hi) on one line, with token k's text
    replaced when replace = (k, text)."""
    out = []
    for k in range(lo, hi):
        out.append(replace[1] if replace and k == replace[0] else toks[k].text)
    return " ".join(out)


def statement_start(toks, i):
    return i == 0 or toks[i - 1].text in (";", "{", "}") or (toks[i - 1].text == ":" and toks[i - 2].text in (
        "default", "public", "private", "protected")) or toks[i - 1].text == "else"


def declaration_like(toks, lo, hi):
    """A statement that declares something: `T x ...`, `T *x ...`, `auto ...`."""
    first = toks[lo]
    if first.text in ("auto", "const", "constexpr", "static", "unsigned", "signed", "struct", "enum", "using",
                      "typedef", "thread_local", "volatile", "register", "extern"):
        return True
    j, depth = lo, 0
    # Skip a (qualified, templated) name: ident (:: ident)*.
    if toks[j].text == "::":
        j += 1
    while j < hi and toks[j].kind == "ident":
        j += 1
        if j < hi and toks[j].text == "::":
            j += 1
        else:
            break
    if j < hi and toks[j].text == "<":
        depth = 1
        j += 1
        while j < hi and depth:
            depth += {"<": 1, ">": -1, ">>": -2}.get(toks[j].text, 0)
            j += 1
    while j < hi and toks[j].text in ("*", "&", "&&", "const"):
        j += 1
    return j > lo and j < hi and toks[j].kind == "ident" and toks[j - 1].kind in ("ident", "op")


def innermost_brackets(toks, lo, hi):
    """For each token in [lo, hi), the innermost bracket open around it."""
    stack, out = [], {}
    for k in range(lo, hi):
        out[k] = stack[-1] if stack else "{"
        x = toks[k].text
        if x in OPEN:
            stack.append(x)
        elif x in CLOSE and stack:
            stack.pop()
    return out


def find_mutants(toks, lo_body, hi_body):
    out = []
    inside = innermost_brackets(toks, lo_body, hi_body)
    i = lo_body + 1
    while i < hi_body:
        t = toks[i]
        if t.pp:
            i += 1
            continue
        if t.text in ("static_assert", "case", "template", "asm", "__asm__"):
            # Skip to the end of the construct.
            end = {"case": ":"}.get(t.text, ";")
            while i < hi_body and toks[i].text != end:
                i += 1
            continue
        # Binary operators.
        if t.text in SWAP and is_binary(toks, i):
            if t.text in ("<", ">", ">>") and (t.text != "<" or template_bracket(toks, i, hi_body)) and (
                    t.text == "<" or _closes_template(toks, i)):
                i += 1
                continue
            if t.text in ("+=", "-="):
                lo = left_extent(toks, i, 1, lo_body)
                hi = right_extent(toks, i, 1, hi_body)
            else:
                p = PREC[t.text]
                lo = left_extent(toks, i, p, lo_body)
                hi = right_extent(toks, i, p, hi_body)
            if lo < i < hi:
                out.append(Mutant(OPERATOR_NAMES[t.text], lo, hi, span_text(toks, lo, hi, (i, SWAP[t.text])),
                                  f"{t.text} -> {SWAP[t.text]}"))
        # Integer constants.
        if t.kind == "number" and re.fullmatch(r"(0[xX][0-9a-fA-F']+|\d[\d']*)[uUlL]*", t.text) and \
                toks[i - 1].text not in ("[", "#") and not (toks[i - 1].text == "-" and not is_binary(toks, i - 1)) \
                and not expect_hint(toks, i, lo_body):
            out.append(Mutant("crcr", i, i + 1, f"({t.text} + 1)", f"{t.text} -> {t.text} + 1"))
            out.append(Mutant("crcr", i, i + 1, f"({t.text} - 1)", f"{t.text} -> {t.text} - 1"))
        # Conditions of if and while.
        if t.text in ("if", "while") and toks[i + 1].text == "(" and not (t.text == "while" and toks[i - 1].text == "}"
                                                                           and _do_while(toks, i)):
            close = _match(toks, i + 1)
            inner = range(i + 2, close)
            depth = 0
            simple = True
            for k in inner:
                depth += {"(": 1, ")": -1, "[": 1, "]": -1, "{": 1, "}": -1}.get(toks[k].text, 0)
                if depth == 0 and toks[k].text in (";",) or (depth == 0 and toks[k].text == "=" ):
                    simple = False
            if simple and close > i + 2 and not declaration_like(toks, i + 2, close):
                out.append(Mutant("cond", i + 2, close, "true", f"{t.text} condition -> true"))
                out.append(Mutant("cond", i + 2, close, "false", f"{t.text} condition -> false"))
        # Expression statements, and return values.
        if inside[i] == "{" and statement_start(toks, i) and t.text not in ("return", "break", "continue", "goto", "if", "for", "while",
                                                       "do", "switch", "else", "case", "default", "{", "}", ";",
                                                       "using", "typedef", "namespace") and t.kind in ("ident", "op"):
            end = _statement_end(toks, i, hi_body)
            if end is not None and not declaration_like(toks, i, end) and (
                    t.kind == "ident" or t.text in ("*", "++", "--", "(")):
                text = span_text(toks, i, end + 1)
                if re.search(r"\(|=|\+\+|--", text) and not re.match(r"^\w+\s*:", text):
                    out.append(Mutant("sdl", i, end + 1, ";", "statement deleted"))
        if t.text == "return" and toks[i + 1].text != ";":
            end = _statement_end(toks, i, hi_body)
            if end is not None:
                expr = span_text(toks, i + 1, end)
                alt = {"false": "true", "true": "false", "0": "1", "nullptr": None}.get(expr, "{}")
                if alt:
                    out.append(Mutant("rvr", i, end + 1, f"return {alt};", f"return {expr} -> return {alt}"))
        i += 1
    return out


def _closes_template(toks, i):
    """A > or >> that closes template arguments (an opening < before it on the same nesting)."""
    depth, j = 0, i - 1
    while j >= 0 and j > i - 40:
        t = toks[j]
        if t.text in (";", "{", "}"):
            return False
        if t.text in (")", "]"):
            depth += 1
        elif t.text in ("(", "["):
            if depth == 0:
                return False
            depth -= 1
        elif depth == 0 and t.text == "<":
            return template_bracket(toks, j, len(toks))
        j -= 1
    return False


def _match(toks, i):
    depth = 0
    for k in range(i, len(toks)):
        if toks[k].text in OPEN:
            depth += 1
        elif toks[k].text in CLOSE:
            depth -= 1
            if depth == 0:
                return k
    return len(toks) - 1


def _do_while(toks, i):
    depth = 0
    for k in range(i - 1, -1, -1):
        if toks[k].text == "}":
            depth += 1
        elif toks[k].text == "{":
            depth -= 1
            if depth == 0:
                return toks[k - 1].text == "do"
    return False


def _statement_end(toks, i, hi):
    """The ; that ends the statement at i, or None for a compound one."""
    depth = 0
    for k in range(i, hi):
        x = toks[k].text
        if x == "{" and depth == 0:
            return None
        if x in OPEN:
            depth += 1
        elif x in CLOSE:
            depth -= 1
            if depth < 0:
                return None
        elif x == ";" and depth == 0:
            return k
        elif depth == 0 and x in ("{",):
            return None
    return None


# ---------------------------------------------------------------- schema

def wrap(m, original):
    mid = f"MM_MUT({m.id})"
    if m.op == "sdl":
        return f"{{ if (!{mid}) {{ {original} }} }}"
    if m.op == "rvr":
        return f"{{ if ({mid}) {m.text} {original} }}"
    if m.op == "cond":
        # The condition may be a pointer or an integer: the three arms must be bool.
        return f"({mid} ? {m.text} : static_cast<bool>({original}))"
    return f"({mid} ? ({m.text}) : ({original}))"


def render(src, toks, mutants):
    """The schema's text: src with every mutant wrapped around its span.
    Spans nest or are disjoint (a crossing one is dropped by the caller)."""
    # Outermost first: sort by (lo, -hi).
    order = sorted(mutants, key=lambda m: (m.lo, -m.hi, m.id))

    def emit(lo, hi, ms, pos_start):
        """Text of source bytes from token lo's start (or pos_start) to token hi-1's end."""
        out = []
        pos = pos_start
        k = 0
        while k < len(ms):
            m = ms[k]
            # Every mutant with the same span wraps the same inner text.
            group = [m]
            k += 1
            while k < len(ms) and ms[k].lo == m.lo and ms[k].hi == m.hi:
                group.append(ms[k])
                k += 1
            inner_ms = []
            while k < len(ms) and ms[k].lo < m.hi:
                inner_ms.append(ms[k])
                k += 1
            start = toks[m.lo].start
            out.append(src[pos:start])
            inner = emit(m.lo, m.hi, inner_ms, start)
            for g in reversed(group):
                inner = wrap(g, inner)
            out.append(inner)
            pos = toks[m.hi - 1].end
        out.append(src[pos:toks[hi - 1].end] if hi > 0 else "")
        return "".join(out)

    body = emit(0, len(toks), order, 0)
    return body + src[toks[-1].end:] if toks else src


def drop_crossing(mutants):
    kept, stack = [], []
    for m in sorted(mutants, key=lambda m: (m.lo, -m.hi)):
        while stack and stack[-1].hi <= m.lo:
            stack.pop()
        if stack and m.hi > stack[-1].hi:
            continue  # crosses an enclosing span
        kept.append(m)
        stack.append(m)
    return kept


def mutants_of(path, src, lines=None):
    """Every mutant of the file, in source order, optionally only those on
    `lines` (a set of line numbers)."""
    toks = tokenize(src)
    out = []
    for lo, hi in function_body_ranges(toks):
        out += find_mutants(toks, lo, hi)
    out = drop_crossing(out)
    src_lines = src.split("\n")
    out.sort(key=lambda m: (m.lo, -m.hi, m.desc))
    seen = {}
    for m in out:
        m.file = path
        m.line = toks[m.lo].line
        m.original = span_text(toks, m.lo, m.hi)
        # What identifies a mutant across edits elsewhere: file, the text of its
        # line and of its span, and the change; and, for the same change to a
        # line of the same text again, which occurrence in the file it is.
        line_text = " ".join(src_lines[m.line - 1].split())
        ident = f"{path}|{line_text}|{m.original}|{m.op}|{m.text}"
        n = seen[ident] = seen.get(ident, 0) + 1
        m.key = hashlib.sha1((ident if n == 1 else f"{ident}|{n}").encode()).hexdigest()[:12]
    if lines is not None:
        out = [m for m in out if any(toks[k].line in lines for k in range(m.lo, m.hi))]
    return toks, out


def schema(path, src, toks, mutants):
    """The schema file's text: the prelude, then the file as it was at its
    own line numbers (#line), with the mutants in place."""
    body = render(src, toks, mutants)
    return PRELUDE + f'#line 1 "{path}"\n' + body
