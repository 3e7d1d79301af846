"""Exact TreeSHAP contributions per business field, many times faster than ``pred_contrib``.

LightGBM's ``pred_contrib`` runs path-dependent TreeSHAP for every lead: for every tree it
walks each root-to-leaf path and rebuilds the path's permutation weights, ``O(L D^2)`` per
tree and lead (``L`` leaves, ``D`` depth). The same values can be had with ``O(L)`` table
lookups per tree and lead, after a one-off precomputation per leaf.

Path-dependent TreeSHAP splits a tree into one small game per leaf. For leaf ``l`` with
value ``v``, let ``d_1..d_k`` be the distinct features split on along its path, ``z_j``
the share of training rows that follow the path at the splits on ``d_j`` (the product of
child count / parent count over those splits) and ``o_j(x)`` 1 when ``x`` goes the path's
way at all of them, else 0. The leaf adds to feature ``d_i``

    v (o_i - z_i) sum_{S subset of A} w(|S|) prod_{j not in S, j != i} z_j,
    w(s) = s! (k - 1 - s)! / k!,

where ``A`` are the other features with ``o_j = 1``. This depends on ``x`` only through
the ``k`` bits ``o(x)``, so every leaf gets a table of its ``2^k`` possible contributions,
already summed per business field (:func:`_leaf_table`). Scoring a lead then walks each
tree once from the root, carrying the bits down (a bit is set where the lead leaves the
path), and adds one table row per leaf (:func:`_accumulate`). Small subtrees are merged
into one table indexed by their root's bits and their own splits' decisions
(:data:`DEFAULT_PACK_BITS`), which cuts the lookups per tree about threefold. The
decisions are LightGBM's own (``<=`` on the threshold, missing values NaN or zero sent
the default way, categorical splits as sets), so the result is LightGBM's TreeSHAP, not an
approximation: only the order of floating-point additions differs (around 1e-15).

The kernels are compiled with Numba and release the GIL, so row blocks run on threads.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import lightgbm as lgb
import numba
import numpy as np

#: Paths with more distinct features than this would need tables of over 2^MAX_PATH rows.
MAX_PATH_FEATURES = 20

#: A subtree whose root has ``k`` path features and which has ``s`` splits gets one table
#: of ``2^(k + s)`` rows when ``k + s`` is at most this: one lookup instead of one per leaf.
DEFAULT_PACK_BITS = 11

_LEAF, _NUMERICAL, _CATEGORICAL = 0, 1, 2
_MISSING = {"None": 0, "Zero": 1, "NaN": 2}
#: LightGBM's kZeroThreshold: values this close to zero are "zero" for missing-type Zero.
_ZERO = 1e-35


@dataclass(frozen=True)
class CompiledModel:
    """A LightGBM model flattened into arrays for the Numba kernels.

    Nodes of all trees are stored in pre-order (a parent before its children), tree ``t``
    holding nodes ``tree_start[t]`` to ``tree_start[t + 1] - 1``. For a leaf, ``table_at``
    points to its ``2^k x n_leaf_fields`` contribution table and ``fields_at`` to the field
    of each table column.
    """

    tree_start: np.ndarray
    split_start: np.ndarray
    splits: np.ndarray
    unit_start: np.ndarray
    unit_slot: np.ndarray
    unit_table_at: np.ndarray
    unit_nf: np.ndarray
    unit_fields_at: np.ndarray
    sub_root: np.ndarray
    decision_bit: np.ndarray
    kind: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    missing: np.ndarray
    default_left: np.ndarray
    left: np.ndarray
    right: np.ndarray
    bit: np.ndarray
    cats_at: np.ndarray
    cats: np.ndarray
    fields: np.ndarray
    tables: np.ndarray
    n_features: int
    n_fields: int


def compile_model(
    booster: lgb.Booster,
    feature_to_field: np.ndarray,
    n_fields: int,
    pack_bits: int = DEFAULT_PACK_BITS,
) -> CompiledModel:
    """Flatten ``booster`` and precompute every leaf's contribution table per field.

    Raises
    ------
    ValueError
        For a model with several trees per iteration (multiclass), or a leaf whose path
        splits on more than :data:`MAX_PATH_FEATURES` distinct features.
    """
    dump = booster.dump_model()
    per_iter = int(dump.get("num_tree_per_iteration", 1))
    if per_iter != 1:
        raise ValueError(
            f"fast field contributions need one tree per iteration, got {per_iter} "
            "(multiclass models are not supported)"
        )
    flat = _Flat()
    for info in dump["tree_info"]:
        _flatten_tree(flat, info, feature_to_field)
        flat.tree_start.append(len(flat.cols["kind"]))
    _link_children(dump, flat.cols, flat.tree_start)
    packed = _pack(flat.cols, flat.tree_start, _leaf_tables(flat), flat.fields, pack_bits)
    return _compiled(flat, packed, n_features=int(booster.num_feature()), n_fields=n_fields)


@dataclass
class _Flat:
    """Nodes of all trees in pre-order, as columns, filled by :func:`_flatten_tree`."""

    cols: dict[str, list] = field(default_factory=lambda: {k: [] for k in _DEFAULTS})
    cats: list[int] = field(default_factory=list)
    fields: list[int] = field(default_factory=list)
    # per leaf: (table_at, z, leaf value, table column of each path feature, n_leaf_fields)
    leaves: list[tuple[int, np.ndarray, float, np.ndarray, int]] = field(default_factory=list)
    tree_start: list[int] = field(default_factory=lambda: [0])
    table_size: int = 0


def _flatten_tree(flat: _Flat, info: dict, feature_to_field: np.ndarray) -> None:
    """Nothing; appends the nodes of one dumped tree to ``flat`` in pre-order."""
    # (node, path feature -> (bit, share of rows following the path at its splits))
    stack: list[tuple[dict, dict[int, tuple[int, float]]]] = [(info["tree_structure"], {})]
    while stack:
        node, path = stack.pop()
        if "split_feature" not in node:
            _add_leaf(flat, node, path, feature_to_field, info["tree_index"])
        else:
            stack += _add_split(flat, node, path)


def _add_leaf(
    flat: _Flat,
    node: dict,
    path: dict[int, tuple[int, float]],
    feature_to_field: np.ndarray,
    tree_index: int,
) -> None:
    """Nothing; appends a leaf and reserves its contribution table in ``flat``."""
    feats = sorted(path, key=lambda f: path[f][0])
    k = len(feats)
    if k > MAX_PATH_FEATURES:
        raise ValueError(
            f"a leaf of tree {tree_index} splits on {k} distinct features; "
            f"at most {MAX_PATH_FEATURES} are supported"
        )
    z = np.array([path[f][1] for f in feats])
    leaf_fields = sorted({int(feature_to_field[f]) for f in feats})
    col = np.array([leaf_fields.index(int(feature_to_field[f])) for f in feats])
    nf = len(leaf_fields)
    _append(flat.cols, kind=_LEAF, table_at=flat.table_size, n_leaf_fields=nf,
            fields_at=len(flat.fields), cats_at=len(flat.cats), k=k)
    flat.fields += leaf_fields
    flat.leaves.append((flat.table_size, z, float(node["leaf_value"]), col, nf))
    flat.table_size += (1 << k) * nf


def _add_split(
    flat: _Flat, node: dict, path: dict[int, tuple[int, float]]
) -> list[tuple[dict, dict[int, tuple[int, float]]]]:
    """The children of a split node (right first) with their paths, after appending it."""
    f = int(node["split_feature"])
    if node["decision_type"] == "==":
        kind, thr = _CATEGORICAL, 0.0
        node_cats = sorted(int(c) for c in str(node["threshold"]).split("||"))
    else:
        kind, thr, node_cats = _NUMERICAL, float(node["threshold"]), []
    bit = path[f][0] if f in path else len(path)
    count = float(node["internal_count"])
    _append(flat.cols, kind=kind, feature=f, threshold=thr,
            missing=_MISSING[node.get("missing_type", "None")],
            default_left=bool(node.get("default_left", True)), bit=bit,
            cats_at=len(flat.cats), k=len(path))
    flat.cats += node_cats
    # Children are numbered when popped; push right first so left comes next.
    children = []
    for side in ("right_child", "left_child"):
        child = node[side]
        child_count = float(child.get("internal_count", child.get("leaf_count", 0)))
        share = child_count / count if count > 0 else 0.0
        prev = path[f][1] if f in path else 1.0
        children.append((child, {**path, f: (bit, prev * share)}))
    return children


def _leaf_tables(flat: _Flat) -> np.ndarray:
    """All leaves' contribution tables, concatenated at their ``table_at``."""
    tables = np.zeros(flat.table_size)
    for at, z, v, col, nf in flat.leaves:
        _leaf_table(z, v, col.astype(np.int64), nf, tables[at : at + (1 << len(z)) * nf])
    return tables


def _compiled(
    flat: _Flat, packed: dict[str, np.ndarray], *, n_features: int, n_fields: int
) -> CompiledModel:
    """The :class:`CompiledModel` from the flattened nodes and the packed subtrees."""
    cols, tree_start = flat.cols, flat.tree_start
    n_nodes = len(cols["kind"])
    cats_at = np.append(np.asarray(cols["cats_at"], dtype=np.int64), len(flat.cats))
    kind = np.asarray(cols["kind"], dtype=np.int8)
    is_leaf = kind == _LEAF
    tree_of = np.repeat(np.arange(len(tree_start) - 1), np.diff(tree_start))
    return CompiledModel(
        tree_start=np.asarray(tree_start, dtype=np.int64),
        split_start=_starts(tree_of[~is_leaf], len(tree_start) - 1),
        splits=np.flatnonzero(~is_leaf).astype(np.int64),
        unit_start=packed["unit_start"],
        unit_slot=packed["unit_slot"],
        unit_table_at=packed["unit_table_at"],
        unit_nf=packed["unit_nf"],
        unit_fields_at=packed["unit_fields_at"],
        sub_root=packed["sub_root"],
        decision_bit=packed["decision_bit"],
        kind=kind,
        feature=np.asarray(cols["feature"], dtype=np.int64),
        threshold=np.asarray(cols["threshold"], dtype=np.float64),
        missing=np.asarray(cols["missing"], dtype=np.int8),
        default_left=np.asarray(cols["default_left"], dtype=np.bool_),
        left=np.asarray(cols["left"], dtype=np.int64),
        right=np.asarray(cols["right"], dtype=np.int64),
        bit=np.asarray(cols["bit"], dtype=np.int64),
        cats_at=cats_at[: n_nodes + 1] if n_nodes else np.zeros(1, dtype=np.int64),
        cats=np.asarray(flat.cats, dtype=np.int64),
        fields=packed["fields"],
        tables=packed["tables"],
        n_features=n_features,
        n_fields=int(n_fields),
    )


_DEFAULTS = {
    "kind": _LEAF, "feature": -1, "threshold": 0.0, "missing": 0, "default_left": True,
    "left": -1, "right": -1, "bit": 0, "cats_at": 0, "table_at": 0, "n_leaf_fields": 0,
    "fields_at": 0, "k": 0,
}


def _pack(
    cols: dict[str, list], tree_start: list[int], leaf_tables: np.ndarray, leaf_fields: list[int],
    pack_bits: int,
) -> dict[str, np.ndarray]:
    """Merge small subtrees into one table each (see :data:`DEFAULT_PACK_BITS`).

    A merged subtree's table is indexed by its root's off-path bits (low ``k`` bits) and
    the go-left decision of each of its splits (the next ``s`` bits), and holds the sum of
    its leaves' table rows for those bits.
    """
    nodes = _Nodes.of(cols)
    n_splits, parent = _subtree_sizes(nodes)
    packable = ~nodes.is_leaf & (nodes.k + n_splits <= pack_bits)
    sub_root = np.full(len(parent), -1, dtype=np.int64)
    decision_bit = np.zeros(len(parent), dtype=np.int64)
    units: list[list[int]] = []
    tables: list[np.ndarray] = []
    fields: list[int] = []
    unit_start = [0]
    at = 0
    for t in range(len(tree_start) - 1):
        for node in range(tree_start[t], tree_start[t + 1]):
            if packable[node] and (parent[node] < 0 or not packable[parent[node]]):
                table, unit_fields = _merged_table(
                    cols, nodes, leaf_tables, leaf_fields, node, sub_root, decision_bit
                )
            elif nodes.is_leaf[node] and parent[node] < 0:
                continue  # a tree of one leaf: no feature contributes
            elif nodes.is_leaf[node] and not packable[parent[node]]:
                table = _leaf_rows(cols, nodes, leaf_tables, node)
                unit_fields = _fields_of(cols, leaf_fields, node)
            else:
                continue
            units.append([node, at, len(unit_fields), len(fields)])
            tables.append(table.ravel())
            fields += unit_fields
            at += table.size
        unit_start.append(len(units))
    u = np.asarray(units, dtype=np.int64).reshape(-1, 4)
    return {
        "unit_start": np.asarray(unit_start, dtype=np.int64),
        "unit_slot": u[:, 0].copy(),
        "unit_table_at": u[:, 1].copy(),
        "unit_nf": u[:, 2].copy(),
        "unit_fields_at": u[:, 3].copy(),
        "sub_root": sub_root,
        "decision_bit": decision_bit,
        "fields": np.asarray(fields, dtype=np.int64),
        "tables": np.concatenate(tables) if tables else np.zeros(0),
    }


@dataclass(frozen=True)
class _Nodes:
    """The node columns :func:`_pack` reads, as arrays."""

    left: np.ndarray
    right: np.ndarray
    is_leaf: np.ndarray
    k: np.ndarray
    bit: np.ndarray

    @classmethod
    def of(cls, cols: dict[str, list]) -> _Nodes:
        """The arrays of ``cols``."""
        return cls(
            left=np.asarray(cols["left"]),
            right=np.asarray(cols["right"]),
            is_leaf=np.asarray(cols["kind"]) == _LEAF,
            k=np.asarray(cols["k"]),
            bit=np.asarray(cols["bit"]),
        )


def _subtree_sizes(nodes: _Nodes) -> tuple[np.ndarray, np.ndarray]:
    """Number of splits in the subtree of every node, and every node's parent (-1: root)."""
    n_nodes = len(nodes.left)
    n_splits = np.zeros(n_nodes, dtype=np.int64)
    parent = np.full(n_nodes, -1)
    left, right = nodes.left, nodes.right
    for node in range(n_nodes - 1, -1, -1):  # children come after parents
        if not nodes.is_leaf[node]:
            n_splits[node] = 1 + n_splits[left[node]] + n_splits[right[node]]
            parent[left[node]] = parent[right[node]] = node
    return n_splits, parent


def _leaf_rows(
    cols: dict[str, list], nodes: _Nodes, leaf_tables: np.ndarray, leaf: int
) -> np.ndarray:
    """The contribution table of ``leaf`` as ``(2^k, n_leaf_fields)``."""
    nf = cols["n_leaf_fields"][leaf]
    a = cols["table_at"][leaf]
    return leaf_tables[a : a + (1 << nodes.k[leaf]) * nf].reshape(-1, nf)


def _subtree_paths(
    nodes: _Nodes, root: int
) -> tuple[list[int], list[tuple[int, list[tuple[int, bool]]]]]:
    """The splits under ``root`` in pre-order, and every leaf with its path from ``root``."""
    splits, paths = [], []
    stack: list[tuple[int, list[tuple[int, bool]]]] = [(root, [])]
    while stack:
        n, path = stack.pop()
        if nodes.is_leaf[n]:
            paths.append((n, path))
            continue
        splits.append(n)
        stack.append((nodes.right[n], [*path, (n, False)]))
        stack.append((nodes.left[n], [*path, (n, True)]))
    return splits, paths


def _merged_table(
    cols: dict[str, list],
    nodes: _Nodes,
    leaf_tables: np.ndarray,
    leaf_fields: list[int],
    node: int,
    sub_root: np.ndarray,
    decision_bit: np.ndarray,
) -> tuple[np.ndarray, list[int]]:
    """The merged table of the subtree at ``node`` and its fields; numbers its decisions.

    Sets ``sub_root`` and ``decision_bit`` of the subtree's splits.
    """
    splits, paths = _subtree_paths(nodes, node)
    base = int(nodes.k[node])
    for j, n in enumerate(sorted(splits)):
        sub_root[n] = node
        decision_bit[n] = base + j
    unit_fields = sorted({f for leaf, _ in paths for f in _fields_of(cols, leaf_fields, leaf)})
    p = np.arange(1 << (base + len(splits)), dtype=np.int64)
    table = np.zeros((len(p), len(unit_fields)))
    for leaf, path in paths:
        code = p & ((1 << base) - 1)
        for n, went_left in path:
            goes_left = (p >> decision_bit[n]) & 1
            code |= (goes_left != int(went_left)).astype(np.int64) << nodes.bit[n]
        cols_of = [unit_fields.index(f) for f in _fields_of(cols, leaf_fields, leaf)]
        table[:, cols_of] += _leaf_rows(cols, nodes, leaf_tables, leaf)[code]
    return table, unit_fields


def _fields_of(cols: dict[str, list], leaf_fields: list[int], leaf: int) -> list[int]:
    a = cols["fields_at"][leaf]
    return leaf_fields[a : a + cols["n_leaf_fields"][leaf]]


def _starts(tree_of: np.ndarray, n_trees: int) -> np.ndarray:
    """Offsets of each tree's entries in a list sorted by tree."""
    return np.concatenate([[0], np.cumsum(np.bincount(tree_of, minlength=n_trees))]).astype(
        np.int64
    )


def _append(cols: dict[str, list], **values) -> None:
    for k, default in _DEFAULTS.items():
        cols[k].append(values.get(k, default))


def _link_children(dump: dict, cols: dict[str, list], tree_start: list[int]) -> None:
    """Child positions: re-walk each tree in the same pre-order used for numbering."""
    for t, info in enumerate(dump["tree_info"]):
        counter = tree_start[t]
        stack: list[tuple[dict, int, bool]] = [(info["tree_structure"], -1, False)]
        while stack:
            node, parent, is_left = stack.pop()
            me = counter
            counter += 1
            if parent >= 0:
                cols["left" if is_left else "right"][parent] = me
            if "split_feature" in node:
                stack.append((node["right_child"], me, False))
                stack.append((node["left_child"], me, True))


@numba.njit(cache=True, nogil=True)
def _leaf_table(z, v, col, nf, out):  # pragma: no cover - compiled
    """Fill ``out`` (``2^k * nf``): per bit pattern (bit j set = feature j off the path),
    the leaf's contribution summed into its ``nf`` field columns."""
    k = len(z)
    w = np.empty(k)
    for s in range(k):
        # s! (k-1-s)! / k!, built as a product to stay finite for large k
        r = 1.0 / k
        for a in range(1, s + 1):
            r *= a / (k - s - 1 + a)
        w[s] = r
    e = np.empty(k + 1)
    for p in range(1 << k):
        for i in range(k):
            on = 1.0 if (p >> i) & 1 == 0 else 0.0
            diff = on - z[i]
            if diff == 0.0:
                continue
            e[0] = 1.0
            m = 0
            off_product = 1.0
            for j in range(k):
                if j == i:
                    continue
                if (p >> j) & 1 == 0:
                    e[m + 1] = 0.0
                    for s in range(m + 1, 0, -1):
                        e[s] += z[j] * e[s - 1]
                    m += 1
                else:
                    off_product *= z[j]
            total = 0.0
            for s in range(m + 1):
                total += w[s] * e[m - s]
            out[p * nf + col[i]] += v * diff * off_product * total


@numba.njit(cache=True, nogil=True, inline="always")
def _goes_left(x, kind, thr, missing, default_left, cats, lo, hi):  # pragma: no cover
    if kind == 1:
        # LightGBM's NumericalDecision, written so it compiles to selects, not branches
        nan = np.isnan(x)
        if missing == 2:
            return default_left if nan else x <= thr
        v = 0.0 if nan else x
        if missing == 1:
            return default_left if -1e-35 <= v <= 1e-35 else v <= thr
        return v <= thr
    # CategoricalDecision: NaN and negative values go right; values are truncated to int.
    if np.isnan(x) or x < 0.0 or x >= 2147483648.0:
        return False
    c = np.int64(x)
    for q in range(lo, hi):
        if cats[q] == c:
            return True
    return False


@numba.njit(cache=True, nogil=True)
def _accumulate(
    X, out, tree_start, split_start, splits, unit_start, unit_slot, unit_table_at, unit_nf,
    unit_fields_at, sub_root, decision_bit, kind, feature, threshold, missing, default_left,
    left, right, bit, cats_at, cats, fields, tables, block,
):  # pragma: no cover - compiled
    """Add every tree's per-field TreeSHAP values of the rows of ``X`` into ``out``.

    Rows are taken in blocks and each block goes through all trees, so a tree's nodes and
    tables stay in cache while its rows are processed. Per tree and row, the splits are
    visited parents first, carrying the off-path bits down to the leaves; then each leaf
    adds its table row for the bits it received.
    """
    n = X.shape[0]
    n_trees = len(tree_start) - 1
    width = 1
    for t in range(n_trees):
        width = max(width, tree_start[t + 1] - tree_start[t])
    code = np.zeros(width, dtype=np.int64)
    for b0 in range(0, n, block):
        b1 = min(n, b0 + block)
        for t in range(n_trees):
            s0 = tree_start[t]
            i0, i1 = split_start[t], split_start[t + 1]
            u0, u1 = unit_start[t], unit_start[t + 1]
            if i0 == i1:
                continue  # a single leaf: no feature contributes
            for r in range(b0, b1):
                code[0] = 0
                for ii in range(i0, i1):
                    node = splits[ii]
                    c = code[node - s0]
                    go_left = _goes_left(
                        X[r, feature[node]], kind[node], threshold[node], missing[node],
                        default_left[node], cats, cats_at[node], cats_at[node + 1],
                    )
                    root = sub_root[node]
                    if root >= 0:
                        code[root - s0] |= np.int64(go_left) << decision_bit[node]
                        continue
                    mask = np.int64(1) << bit[node]
                    off_left = 0 if go_left else mask
                    code[left[node] - s0] = c | off_left
                    code[right[node] - s0] = c | (mask ^ off_left)
                for u in range(u0, u1):
                    nf = unit_nf[u]
                    at = unit_table_at[u] + code[unit_slot[u] - s0] * nf
                    fa = unit_fields_at[u]
                    for q in range(nf):
                        out[r, fields[fa + q]] += tables[at + q]


def contributions(
    model: CompiledModel, X: np.ndarray, n_threads: int = 1, block: int = 1024
) -> np.ndarray:
    """Per-field TreeSHAP values of every row of ``X`` (``(n, n_fields)``)."""
    out = np.zeros((len(X), model.n_fields))
    if not len(X):
        return out
    args = (
        model.tree_start, model.split_start, model.splits, model.unit_start, model.unit_slot,
        model.unit_table_at, model.unit_nf, model.unit_fields_at, model.sub_root,
        model.decision_bit, model.kind, model.feature, model.threshold, model.missing,
        model.default_left, model.left, model.right, model.bit, model.cats_at, model.cats,
        model.fields, model.tables,
    )
    n_threads = max(1, min(n_threads, -(-len(X) // block)))
    if n_threads == 1:
        _accumulate(X, out, *args, block)
        return out
    bounds = np.linspace(0, len(X), n_threads + 1).astype(int)
    with ThreadPoolExecutor(n_threads) as pool:
        jobs = [
            pool.submit(_accumulate, X[a:b], out[a:b], *args, block)
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ]
        for job in jobs:
            job.result()
    return out


def field_contributions_fast(
    booster: lgb.Booster,
    X: np.ndarray,
    feature_to_field: np.ndarray,
    n_fields: int,
    chunk_rows: int = 1_000_000,
    n_threads: int | None = None,
) -> tuple[np.ndarray, float]:
    """Exact TreeSHAP log-odds contributions summed per business field, and the base value.

    The same numbers as ``booster.predict(X, pred_contrib=True)[:, :-1] @ indicator``
    (with ``indicator[j, feature_to_field[j]] = 1``) and that call's last column, computed
    with per-leaf tables (see the module notes).

    Parameters
    ----------
    booster : lightgbm.Booster
        A binary or regression model (one tree per iteration).
    X : ndarray of shape (n, n_features)
        The matrix LightGBM sees (categoricals as codes, missing as NaN).
    feature_to_field : ndarray of int, shape (n_features,)
        The business field of every feature, ``0 <= field < n_fields``.
    n_fields : int
        Number of business fields.
    chunk_rows : int, default 1,000,000
        Rows converted to float64 at once (only matters when ``X`` is not float64 already).
    n_threads : int, optional
        Threads; default the CPU count.

    Returns
    -------
    contrib : ndarray of shape (n, n_fields)
    base : float
        The model's expected log-odds (the base value of every row).

    Raises
    ------
    ValueError
        On a shape mismatch, a field index out of range or an unsupported model.
    """
    n_feat = booster.num_feature()
    X, feature_to_field = _checked_inputs(n_feat, X, feature_to_field, n_fields, chunk_rows)
    # The base value is the same for every row: the trees' expected values summed.
    base = float(booster.predict(np.full((1, n_feat), np.nan), pred_contrib=True)[0, -1])
    model = compile_model(booster, feature_to_field, n_fields)
    threads = max(1, n_threads or os.cpu_count() or 1)
    out = np.empty((len(X), n_fields))
    for start in range(0, len(X), chunk_rows):
        chunk = np.ascontiguousarray(X[start : start + chunk_rows], dtype=np.float64)
        out[start : start + len(chunk)] = contributions(model, chunk, threads)
    return out, base


def _checked_inputs(
    n_feat: int, X: np.ndarray, feature_to_field: np.ndarray, n_fields: int, chunk_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """``X`` and ``feature_to_field`` as arrays, checked against the model's feature count."""
    feature_to_field = np.asarray(feature_to_field, dtype=np.int64)
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != n_feat:
        raise ValueError(f"X must have shape (n, {n_feat}) for this model, got {X.shape}")
    if feature_to_field.shape != (n_feat,):
        raise ValueError(
            f"feature_to_field must have one entry per feature ({n_feat}), "
            f"got shape {feature_to_field.shape}"
        )
    if n_feat and (feature_to_field.min() < 0 or feature_to_field.max() >= n_fields):
        raise ValueError(
            f"feature_to_field values must lie in [0, {n_fields}), got "
            f"[{feature_to_field.min()}, {feature_to_field.max()}]"
        )
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be a positive integer, got {chunk_rows}")
    return X, feature_to_field
