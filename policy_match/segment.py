"""jieba's precise mode with the HMM, over tables worked out once.

``jieba.Tokenizer.lcut(text, HMM=True)`` builds a DAG of the dictionary words starting at each
character, then picks the most probable route backwards, taking ``log(freq) - log(total)`` of
every edge on every call; runs of single characters that are not a word go to its HMM
(``jieba.finalseg``, a Viterbi that copies paths and looks up four emission tables per
character). :class:`PreciseCut` does the same with the logarithms taken at construction, one
backward pass per block without the intermediate DAG dict, and a Viterbi with back-pointers and
one emission lookup per character. The floats are the same (each edge is
``(log(freq) - log(total)) + route`` and each state ``previous + transition + emission``, added
in jieba's order), and so are the ties (the longer word; the later state letter), so the words
are the same: ``tests/test_segment.py`` compares them with jieba's on every document, every
query, random text and random runs of the HMM. It reads the tokenizer's dictionary as it stands
when built: build it after the dictionary is final.
"""

from __future__ import annotations

import math
import sys


def _import_jieba():
    """Import jieba without ``pkg_resources``: jieba only uses it to open its bundled dictionary
    when it can, and falls back to a plain ``open``; importing ``pkg_resources`` costs ~60 ms and
    a deprecation warning. Only this one import sees it blocked."""
    if "jieba" in sys.modules or "pkg_resources" in sys.modules:
        import jieba
        return jieba
    sys.modules["pkg_resources"] = None  # type: ignore[assignment]  # makes `import pkg_resources` fail
    try:
        import jieba
    finally:
        del sys.modules["pkg_resources"]
    return jieba


jieba = _import_jieba()

_NO_WORD = -math.inf  # the best route from a position where no word starts, so far
_PREFIX_ONLY = math.nan  # the value of a prefix that is no word: never the best edge


class PreciseCut:
    """``lcut(text)`` equal to ``tokenizer.lcut(text, HMM=True)`` for a loaded ``jieba.Tokenizer``."""

    def __init__(self, tokenizer: jieba.Tokenizer):
        tokenizer.check_initialized()
        freq = tokenizer.FREQ
        log_total = math.log(tokenizer.total)
        # every prefix of a word → the word's log-probability, _PREFIX_ONLY (NaN) for a prefix
        # that is no word (frequency 0): one lookup both continues the walk and prices the edge.
        # Words of one frequency share one float: a query then touches a few thousand floats
        # rather than a new object per word (measurably fewer cache misses per match).
        by_freq: dict[int, float] = {}
        self.log_prob_ = {w: by_freq.setdefault(f, math.log(f) - log_total) if f else _PREFIX_ONLY
                          for w, f in freq.items()}
        self.unseen_log_prob_ = math.log(1) - log_total  # jieba's ``FREQ.get(w) or 1``
        self.emissions_ = hmm_emissions()

    def lcut(self, sentence: str) -> list[str]:
        out: list[str] = []
        han, skip = jieba.re_han_default, jieba.re_skip_default
        for block in han.split(sentence):
            if not block:
                continue
            if han.match(block):
                self._cut_block(block, out)
            else:
                for x in skip.split(block):
                    if skip.match(x):
                        out.append(x)
                    else:
                        out.extend(x)
        return out

    def _cut_block(self, s: str, out: list[str]) -> None:
        get, unseen = self.log_prob_.get, self.unseen_log_prob_
        n = len(s)
        route_prob = [0.0] * (n + 1)
        route_end = list(range(n + 1))
        for k in range(n - 1, -1, -1):
            best, end = _NO_WORD, k
            i, frag = k, s[k]
            while (p := get(frag)) is not None:  # a prefix of some word: walk on
                total = p + route_prob[i + 1]  # NaN for a prefix that is no word: never taken
                if total >= best:  # ties: the later end, as max() over (prob, end)
                    best, end = total, i
                i += 1
                if i == n:
                    break
                frag = s[k:i + 1]
            if best == _NO_WORD:  # no word starts here: the character alone
                best = unseen + route_prob[k + 1]
            route_prob[k], route_end[k] = best, end
        table = self.log_prob_
        buf = ""
        x = 0
        while x < n:
            y = route_end[x] + 1
            if y - x == 1:
                buf += s[x]
            else:
                if buf:
                    _flush(buf, table, out, self.emissions_)
                    buf = ""
                out.append(s[x:y])
            x = y
        if buf:
            _flush(buf, table, out, self.emissions_)


def _flush(buf: str, table: dict[str, float], out: list[str], emissions) -> None:
    """A run of single characters: as one, as characters when it is a word, else the HMM's words."""
    if len(buf) == 1:
        out.append(buf)
    elif (p := table.get(buf)) is None or p is _PREFIX_ONLY:  # jieba's ``not FREQ.get(buf)``
        _hmm_cut(buf, out, emissions)
    else:
        out.extend(buf)


def _hmm_cut(text: str, out: list[str], emissions: dict[str, tuple[float, float, float, float]]) -> None:
    """``jieba.finalseg.cut``: Chinese runs through the HMM (forced splits as characters), the
    rest as jieba splits it."""
    han, skip = jieba.finalseg.re_han, jieba.finalseg.re_skip
    forced = jieba.finalseg.Force_Split_Words
    for block in (text,) if han.fullmatch(text) else han.split(text):  # mostly one Chinese run
        if han.match(block):
            for word in _viterbi_words(block, emissions):
                if word in forced:
                    out.extend(word)
                else:
                    out.append(word)
        else:
            out.extend(x for x in skip.split(block) if x)


_B, _M, _E, _S = 0, 1, 2, 3


def hmm_emissions() -> dict[str, tuple[float, float, float, float]]:
    """Per character, its emission log-probabilities in jieba's HMM states B, M, E, S
    (``MIN_FLOAT`` where a state's table lacks it): one lookup per character in place of four."""
    fs = jieba.finalseg
    emit, low = fs.emit_P, fs.MIN_FLOAT
    return {c: tuple(emit[state].get(c, low) for state in "BMES") for c in set().union(*emit.values())}


def _viterbi_words(s: str, emissions: dict[str, tuple[float, float, float, float]]) -> list[str]:
    """``jieba.finalseg``'s Viterbi over the states B, M, E, S and the words it reads off: the
    same sums in the same order (previous + transition + emission), the same ties (the later
    state letter, as its ``max`` over (probability, state) picks), back-pointers in place of
    copied paths."""
    fs = jieba.finalseg
    start, trans, low = fs.start_P, fs.trans_P, fs.MIN_FLOAT
    unseen = (low, low, low, low)
    emitted = emissions.get
    t_eb, t_sb = trans["E"]["B"], trans["S"]["B"]
    t_mm, t_bm = trans["M"]["M"], trans["B"]["M"]
    t_ss, t_es = trans["S"]["S"], trans["E"]["S"]
    t_be, t_me = trans["B"]["E"], trans["M"]["E"]
    eb, em, ee, es = emitted(s[0], unseen)
    vb, vm, ve, vs = start["B"] + eb, start["M"] + em, start["E"] + ee, start["S"] + es
    back: list[tuple[int, int, int, int]] = []  # per position from 1: the previous state of B, M, E, S
    for c in s[1:]:
        eb, em, ee, es = emitted(c, unseen)
        b_from_e, b_from_s = ve + t_eb + eb, vs + t_sb + eb
        m_from_m, m_from_b = vm + t_mm + em, vb + t_bm + em
        s_from_s, s_from_e = vs + t_ss + es, ve + t_es + es
        e_from_b, e_from_m = vb + t_be + ee, vm + t_me + ee
        nb, pb = (b_from_s, _S) if b_from_s >= b_from_e else (b_from_e, _E)
        nm, pm = (m_from_m, _M) if m_from_m >= m_from_b else (m_from_b, _B)
        ns, ps = (s_from_s, _S) if s_from_s >= s_from_e else (s_from_e, _E)
        ne, pe = (e_from_m, _M) if e_from_m >= e_from_b else (e_from_b, _B)
        back.append((pb, pm, pe, ps))
        vb, vm, ve, vs = nb, nm, ne, ns
    state = _S if vs >= ve else _E
    states = [state]
    for pointers in reversed(back):
        state = pointers[state]
        states.append(state)
    states.reverse()
    words: list[str] = []
    begin = nexti = 0
    for i, pos in enumerate(states):
        if pos == _B:
            begin = i
        elif pos == _E:
            words.append(s[begin:i + 1])
            nexti = i + 1
        elif pos == _S:
            words.append(s[i])
            nexti = i + 1
    if nexti < len(s):
        words.append(s[nexti:])
    return words
