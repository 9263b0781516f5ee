"""Computed CSS values remembered from one PDF to the next (issue 11).

WeasyPrint computes every CSS property of every element lazily, per document, in Python: a
fifth of an invoice's render went to ``ComputedStyle.__missing__`` alone, for values that are
the same in every invoice (the same template, the same parsed stylesheets). Within one
document WeasyPrint already shares an element's computed style with any element that has the
same parent style and the same matching rules; this keeps what those styles computed across
documents, under the same kind of key.

A computed value is a function of the element's cascaded declarations, its parent's computed
values, the root's, the pseudo-element type, the base URL and the font configuration: nothing
else (a ``ComputedStyle`` does not see its element). The key is exactly that: the parent's
and the root's memo entries (so their values too), the cascaded declarations with their
weights, by value where they hash (a stylesheet's and an attribute's such as ``lang``, which
every document declares anew) and else by id (the entry keeps those objects alive, so an id
is never another object's while it is in the key), and the rest by value. A value is recorded
when WeasyPrint first computes it (``__missing__``), before layout adjusts a style in place
(a table's margins moved to its wrapper, paddings of collapsed tables zeroed, page
counters), so a later document starts from the computed values and makes the same
adjustments itself.

Only the renderer in portal/pdf.py uses this, on the documents it renders; WeasyPrint
itself is not patched, so any other use of WeasyPrint in the process is unchanged."""
from functools import cached_property

from weasyprint.css import AnonymousStyle, ComputedStyle
from weasyprint.document import Document

MAX_ENTRIES = 5000  # distinct styles remembered; past this the memo starts again


class _Entry:
    """What one style computed: its values, its specified position/float/display, and its
    anonymous child style's values (itself an entry)."""
    __slots__ = ("values", "specified", "_anonymous", "keep")

    def __init__(self, keep=()):
        self.values = {}
        self.specified = {}
        self._anonymous = None
        self.keep = keep  # the objects whose ids are in this entry's key

    @property
    def anonymous(self) -> "_Entry":
        if self._anonymous is None:
            self._anonymous = _Entry()
        return self._anonymous


def _hashable(value):
    """A cascade weight as a key: (precedence, layer order, specificity), where an @page
    rule's specificity is a list."""
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(item) for item in value)
    return value


def _value_key(values):
    """A declared value as a key: by value when it can be hashed (a stylesheet's values and
    an attribute's, such as ``lang``, which is declared anew in every document), else by the
    object's id (the entry keeps the object, so the id stays its own)."""
    try:
        hash(values)
    except TypeError:
        return ("id", id(values))
    return ("value", values)


def _prefill(style, entry: _Entry) -> None:
    """The remembered values, under any this style already computed itself (in C: a style
    holds about 150 values)."""
    if style:
        dict.update(style, {**entry.values, **style})
    else:
        dict.update(style, entry.values)


class _RememberedAnonymousStyle(AnonymousStyle):
    _entry: _Entry

    def __missing__(self, key):
        value = super().__missing__(key)
        self._entry.values[key] = value
        return value

    @cached_property
    def anonymous_style(self):
        return _anonymous_of(self)


class _RememberedStyle(ComputedStyle):
    _entry: _Entry

    def __missing__(self, key):
        value = super().__missing__(key)
        entry = self._entry
        entry.values[key] = value
        if key in self.specified:
            entry.specified[key] = self.specified[key]
        return value

    @cached_property
    def anonymous_style(self):
        return _anonymous_of(self)


def _anonymous_of(style):
    anonymous = AnonymousStyle(style)
    anonymous.__class__ = _RememberedAnonymousStyle
    anonymous._entry = style._entry.anonymous
    _prefill(anonymous, anonymous._entry)
    return anonymous


class StyleMemo:
    """One per renderer (per thread, as the renderer is)."""

    def __init__(self):
        self.entries: dict[tuple, _Entry] = {}

    def adopt(self, style) -> None:
        """Make ``style`` (a fresh ComputedStyle of this document) start from the values
        remembered under its key, and remember what it computes."""
        if type(style) is not ComputedStyle:  # already adopted (shared), or a copy
            return
        parent, root = style.parent_style, style.root_style
        if type(parent) is ComputedStyle:
            self.adopt(parent)
        if type(root) is ComputedStyle:
            self.adopt(root)
        parent_entry = getattr(parent, "_entry", None)
        root_entry = getattr(root, "_entry", None)
        if (parent is not None and parent_entry is None) or (
                style.parent_style is not None and root_entry is None):
            return  # not a tree this memo knows: leave it to WeasyPrint
        cascaded = tuple(style.cascaded.items())
        key = (id(parent_entry), id(root_entry), style.pseudo_type, style.base_url,
               id(style.font_config), cascaded)
        try:
            hash(key)  # most declarations hash by value, in C
        except TypeError:  # a list somewhere (an @page rule's specificity, some values)
            key = key[:5] + (tuple((name, _value_key(values), _hashable(weight))
                                   for name, (values, weight) in cascaded),)
        entry = self.entries.get(key)
        if entry is None:
            if len(self.entries) >= MAX_ENTRIES:
                self.entries.clear()
            entry = self.entries[key] = _Entry(
                keep=(parent_entry, root_entry, style.font_config, cascaded))
        style.__class__ = _RememberedStyle
        style._entry = entry
        _prefill(style, entry)
        for name, value in entry.specified.items():
            style.specified.setdefault(name, value)

    def attach(self, style_for) -> None:
        """Adopt every style ``style_for`` (a WeasyPrint StyleFor) computed for the
        document's elements, and the page and margin-box styles it computes during layout."""
        for style in list(style_for.get_computed_styles().values()):
            self.adopt(style)
        computed = style_for.get_computed_styles()
        set_computed_styles = style_for.set_computed_styles

        def set_and_adopt(element, parent, root=None, pseudo_type=None, base_url=None,
                          target_collector=None):
            set_computed_styles(element, parent, root, pseudo_type, base_url, target_collector)
            self.adopt(computed[element, pseudo_type])

        style_for.set_computed_styles = set_and_adopt


def document_class(memo: StyleMemo) -> type:
    """A WeasyPrint Document class whose layout context uses ``memo``."""

    class RememberingDocument(Document):
        @classmethod
        def _build_layout_context(cls, *args, **kwargs):
            context = super()._build_layout_context(*args, **kwargs)
            memo.attach(context.style_for)
            return context

    return RememberingDocument
