"""jieba's precise mode with the HMM, over a prefix table with its log-probabilities worked out once.

``jieba.Tokenizer.lcut(text, HMM=True)`` builds a DAG of the dictionary words starting at each
character, then picks the most probable route backwards, taking ``log(freq) - log(total)`` of
every edge on every call; runs of single characters that are not a word go to its HMM
(``jieba.finalseg``). :class:`PreciseCut` does the same walk with those logarithms taken at
construction, in one pass per block and without the intermediate DAG dict, and the same HMM
with back-pointers instead of copied paths: the same floats
(each edge is ``(log(freq) - log(total)) + route``, as jieba adds them), the same tie-break (the
longer word), the same HMM — so the same words (``tests/test_segment.py`` compares it with
jieba on every document, every query and random text). It reads the tokenizer's dictionary as
it stands when built: build it after the dictionary is final.
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

_ABSENT = object()


class PreciseCut:
    """``lcut(text)`` equal to ``tokenizer.lcut(text, HMM=True)`` for a loaded ``jieba.Tokenizer``."""

    def __init__(self, tokenizer: jieba.Tokenizer):
        tokenizer.check_initialized()
        freq = tokenizer.FREQ
        log_total = math.log(tokenizer.total)
        # every prefix of a word → the word's log-probability, None for a prefix that is no word
        # (frequency 0): one lookup both continues the walk and prices the edge
        self.log_prob_ = {w: (math.log(f) - log_total if f else None) for w, f in freq.items()}
        self.unseen_log_prob_ = math.log(1) - log_total  # jieba's ``FREQ.get(w) or 1``
        self.freq_ = freq

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
        table, unseen = self.log_prob_, self.unseen_log_prob_
        n = len(s)
        route_prob = [0.0] * (n + 1)
        route_end = list(range(n + 1))
        for k in range(n - 1, -1, -1):
            best, end = None, k
            i, frag = k, s[k]
            while i < n:
                p = table.get(frag, _ABSENT)
                if p is _ABSENT:
                    break
                if p is not None:
                    total = p + route_prob[i + 1]
                    if best is None or total >= best:  # ties: the later end, as max() over (prob, end)
                        best, end = total, i
                i += 1
                frag = s[k:i + 1]
            if best is None:  # no word starts here: the character alone
                best = unseen + route_prob[k + 1]
            route_prob[k], route_end[k] = best, end
        freq = self.freq_
        buf = ""
        x = 0
        while x < n:
            y = route_end[x] + 1
            if y - x == 1:
                buf += s[x]
            else:
                if buf:
                    _flush(buf, freq, out)
                    buf = ""
                out.append(s[x:y])
            x = y
        if buf:
            _flush(buf, freq, out)


def _flush(buf: str, freq: dict[str, int], out: list[str]) -> None:
    """A run of single characters: as one, as characters when it is a word, else the HMM's words."""
    if len(buf) == 1:
        out.append(buf)
    elif not freq.get(buf):
        _hmm_cut(buf, out)
    else:
        out.extend(buf)


def _hmm_cut(text: str, out: list[str]) -> None:
    """``jieba.finalseg.cut``: Chinese runs through the HMM (forced splits as characters), the
    rest as jieba splits it."""
    han, skip = jieba.finalseg.re_han, jieba.finalseg.re_skip
    forced = jieba.finalseg.Force_Split_Words
    for block in han.split(text):
        if han.match(block):
            for word in _viterbi_words(block):
                if word in forced:
                    out.extend(word)
                else:
                    out.append(word)
        else:
            out.extend(x for x in skip.split(block) if x)


def _viterbi_words(s: str) -> list[str]:
    """``jieba.finalseg``'s Viterbi over the states B, M, E, S and the words it reads off: the
    same sums in the same order (previous + transition + emission), the same ties (the later
    state letter, as its ``max`` over (probability, state) picks), back-pointers in place of
    copied paths."""
    fs = jieba.finalseg
    start, trans, emit, low = fs.start_P, fs.trans_P, fs.emit_P, fs.MIN_FLOAT
    e_b, e_m, e_e, e_s = emit["B"].get, emit["M"].get, emit["E"].get, emit["S"].get
    t_eb, t_sb = trans["E"]["B"], trans["S"]["B"]
    t_mm, t_bm = trans["M"]["M"], trans["B"]["M"]
    t_ss, t_es = trans["S"]["S"], trans["E"]["S"]
    t_be, t_me = trans["B"]["E"], trans["M"]["E"]
    c = s[0]
    vb, vm, ve, vs = start["B"] + e_b(c, low), start["M"] + e_m(c, low), start["E"] + e_e(c, low), \
        start["S"] + e_s(c, low)
    back: list[tuple[str, str, str, str]] = []  # per position from 1: the previous state of B, M, E, S
    for c in s[1:]:
        eb, em, ee, es = e_b(c, low), e_m(c, low), e_e(c, low), e_s(c, low)
        b_from_e, b_from_s = ve + t_eb + eb, vs + t_sb + eb
        m_from_m, m_from_b = vm + t_mm + em, vb + t_bm + em
        s_from_s, s_from_e = vs + t_ss + es, ve + t_es + es
        e_from_b, e_from_m = vb + t_be + ee, vm + t_me + ee
        nb, pb = (b_from_s, "S") if b_from_s >= b_from_e else (b_from_e, "E")
        nm, pm = (m_from_m, "M") if m_from_m >= m_from_b else (m_from_b, "B")
        ns, ps = (s_from_s, "S") if s_from_s >= s_from_e else (s_from_e, "E")
        ne, pe = (e_from_m, "M") if e_from_m >= e_from_b else (e_from_b, "B")
        back.append((pb, pm, pe, ps))
        vb, vm, ve, vs = nb, nm, ne, ns
    state = "S" if vs >= ve else "E"
    states = [state]
    slot = {"B": 0, "M": 1, "E": 2, "S": 3}
    for pointers in reversed(back):
        state = pointers[slot[state]]
        states.append(state)
    states.reverse()
    words: list[str] = []
    begin = nexti = 0
    for i, pos in enumerate(states):
        if pos == "B":
            begin = i
        elif pos == "E":
            words.append(s[begin:i + 1])
            nexti = i + 1
        elif pos == "S":
            words.append(s[i])
            nexti = i + 1
    if nexti < len(s):
        words.append(s[nexti:])
    return words
