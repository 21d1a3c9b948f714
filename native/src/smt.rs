//! The binary sparse Merkle tree of `phrchain.core.smt`, compiled.
//!
//! `phrchain/core/smt.py` is the specification: every function here is a line-by-line
//! port of the function of the same name there (same recursion, same order of node
//! creation, same reads), so roots, proofs and the created-node map are byte-identical.
//! Nodes are addressed by `(version, hash)`; bodies are
//! leaf `0x00 || path || value_hash` (65 bytes) and
//! internal `0x01 || left || right || left_version || right_version` (81 bytes).

use std::collections::HashMap;

use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple};
use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];
pub const EMPTY: Hash = [0u8; 32];
const MAX_DEPTH: usize = 256;

// Domain prefixes, `tag || 0x00` (phrchain/core/hashing.py's TAGS).
pub const KEY_P: &[u8] = b"phrchain/smt/key/v1\x00";
pub const VALUE_P: &[u8] = b"phrchain/smt/value/v1\x00";
const LEAF_P: &[u8] = b"phrchain/smt/leaf/v1\x00";
const NODE_P: &[u8] = b"phrchain/smt/node/v1\x00";

pub fn tagged(prefix: &[u8], a: &[u8], b: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update(prefix);
    h.update(a);
    h.update(b);
    h.finalize().into()
}

/// Bit `d` of a path, bit 0 = most significant bit of byte 0.
#[inline]
fn bit(p: &Hash, d: usize) -> bool {
    (p[d >> 3] >> (7 - (d & 7))) & 1 == 1
}

/// The smallest path whose first `d` bits equal `p`'s and whose bit `d` is 1: the
/// `(ints[lo] & high[d]) | bits[d]` of the reference.
#[inline]
fn split_point(p: &Hash, d: usize) -> Hash {
    let mut out = [0u8; 32];
    let full = d >> 3;
    out[..full].copy_from_slice(&p[..full]);
    let rem = d & 7;
    let keep_mask: u8 = if rem == 0 { 0 } else { 0xffu8 << (8 - rem) };
    out[full] = (p[full] & keep_mask) | (0x80u8 >> rem);
    out
}

fn bisect_left(a: &[Hash], x: &Hash, lo: usize, hi: usize) -> usize {
    lo + a[lo..hi].partition_point(|e| e < x)
}

/// Index of the first bit where two different paths differ.
fn first_difference(a: &Hash, b: &Hash) -> usize {
    for i in 0..32 {
        let x = a[i] ^ b[i];
        if x != 0 {
            return i * 8 + x.leading_zeros() as usize;
        }
    }
    MAX_DEPTH
}

/// A stored node body, parsed.
#[derive(Clone, Copy)]
pub struct Node {
    pub leaf: bool,
    /// leaf: path; internal: left child hash
    pub a: Hash,
    /// leaf: value hash; internal: right child hash
    pub b: Hash,
    pub av: u64,
    pub bv: u64,
}

fn h32(s: &[u8]) -> Hash {
    let mut out = [0u8; 32];
    out.copy_from_slice(s);
    out
}

pub fn parse_body(body: &[u8]) -> PyResult<Node> {
    if body.first() == Some(&0) {
        if body.len() < 65 {
            return Err(PyValueError::new_err("corrupt SMT node: short leaf body"));
        }
        return Ok(Node {
            leaf: true,
            a: h32(&body[1..33]),
            b: h32(&body[33..65]),
            av: 0,
            bv: 0,
        });
    }
    if body.len() < 81 {
        return Err(PyValueError::new_err(
            "corrupt SMT node: short internal body",
        ));
    }
    Ok(Node {
        leaf: false,
        a: h32(&body[1..33]),
        b: h32(&body[33..65]),
        av: u64::from_be_bytes(body[65..73].try_into().unwrap()),
        bv: u64::from_be_bytes(body[73..81].try_into().unwrap()),
    })
}

/// Where nodes are read from: the dict of a `MemoryNodeStore` (read directly, as the
/// reference does), or any object's `get_node(version, hash)`, optionally after a look
/// in a dict of its hot nodes (a hit there is the same immutable body `get_node` would
/// return; a miss asks `get_node`, which may cache).
pub enum Reader<'py> {
    Dict(Bound<'py, PyDict>),
    Call(Bound<'py, PyAny>, Option<Bound<'py, PyDict>>),
}

fn ref_key<'py>(py: Python<'py>, version: u64, hash: &Hash) -> PyResult<Bound<'py, PyTuple>> {
    PyTuple::new(
        py,
        [
            version.into_pyobject(py)?.into_any(),
            PyBytes::new(py, hash).into_any(),
        ],
    )
}

impl<'py> Reader<'py> {
    pub fn from_py(
        reader: &Bound<'py, PyAny>,
        nodes: Option<Bound<'py, PyDict>>,
        hot: Option<Bound<'py, PyDict>>,
    ) -> PyResult<Self> {
        Ok(match nodes {
            Some(d) => Reader::Dict(d),
            None => Reader::Call(reader.getattr("get_node")?, hot),
        })
    }

    pub fn read(&self, version: u64, hash: &Hash) -> PyResult<Node> {
        match self {
            Reader::Dict(d) => {
                let key = ref_key(d.py(), version, hash)?;
                match d.get_item(&key)? {
                    Some(body) => parse_body(body.downcast::<PyBytes>()?.as_bytes()),
                    None => Err(PyKeyError::new_err(key.unbind())),
                }
            }
            Reader::Call(f, hot) => {
                let py = f.py();
                if let Some(hot) = hot {
                    if let Some(body) = hot.get_item(ref_key(py, version, hash)?)? {
                        if let Ok(body) = body.downcast::<PyBytes>() {
                            return parse_body(body.as_bytes());
                        }
                    }
                }
                let body = f.call1((version, PyBytes::new(py, hash)))?;
                parse_body(body.downcast::<PyBytes>()?.as_bytes())
            }
        }
    }
}

struct Update<'a, 'py> {
    reader: &'a Reader<'py>,
    version: u64,
    paths: Vec<Hash>,
    vhs: Vec<Option<Hash>>,
    new: HashMap<Hash, Vec<u8>>,
    order: Vec<Hash>,
}

type Ref = (Hash, u64);

impl Update<'_, '_> {
    fn put(&mut self, h: Hash, body: Vec<u8>) {
        if self.new.insert(h, body).is_none() {
            self.order.push(h);
        }
    }

    fn make_leaf(&mut self, path: &Hash, vh: &Hash) -> Hash {
        let h = tagged(LEAF_P, path, vh);
        let mut body = Vec::with_capacity(65);
        body.push(0u8);
        body.extend_from_slice(path);
        body.extend_from_slice(vh);
        self.put(h, body);
        h
    }

    fn make_node(&mut self, left: &Hash, lv: u64, right: &Hash, rv: u64) -> Hash {
        let h = tagged(NODE_P, left, right);
        let mut body = Vec::with_capacity(81);
        body.push(1u8);
        body.extend_from_slice(left);
        body.extend_from_slice(right);
        body.extend_from_slice(&lv.to_be_bytes());
        body.extend_from_slice(&rv.to_be_bytes());
        self.put(h, body);
        h
    }

    fn is_leaf(&self, h: &Hash, hv: u64) -> PyResult<bool> {
        if let Some(body) = self.new.get(h) {
            return Ok(body[0] == 0);
        }
        Ok(self.reader.read(hv, h)?.leaf)
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        &mut self,
        d: usize,
        bp: &[Hash],
        bv: &[Hash],
        lo: usize,
        hi: usize,
        keep: Option<Hash>,
        keep_hash: &Hash,
        keep_v: u64,
    ) -> Ref {
        if hi - lo == 1 {
            if keep == Some(bp[lo]) {
                return (*keep_hash, keep_v);
            }
            return (self.make_leaf(&bp[lo], &bv[lo]), self.version);
        }
        if lo == hi {
            return (EMPTY, 0);
        }
        let mid = bisect_left(bp, &split_point(&bp[lo], d), lo, hi);
        let (lh, lv) = self.build(d + 1, bp, bv, lo, mid, keep, keep_hash, keep_v);
        let (rh, rv) = self.build(d + 1, bp, bv, mid, hi, keep, keep_hash, keep_v);
        (self.make_node(&lh, lv, &rh, rv), self.version)
    }

    fn fresh(
        &mut self,
        d: usize,
        lo: usize,
        hi: usize,
        leaf: Option<&Node>,
        old_hash: &Hash,
        old_v: u64,
    ) -> Ref {
        let mut bp: Vec<Hash> = Vec::with_capacity(hi - lo + 1);
        let mut bv: Vec<Hash> = Vec::with_capacity(hi - lo + 1);
        for i in lo..hi {
            if let Some(v) = self.vhs[i] {
                bp.push(self.paths[i]);
                bv.push(v);
            }
        }
        let mut keep = None;
        if let Some(leaf) = leaf {
            let lpath = leaf.a;
            let j = bisect_left(&self.paths, &lpath, lo, hi);
            if j == hi || self.paths[j] != lpath {
                let k = bp.partition_point(|e| e < &lpath);
                bp.insert(k, lpath);
                bv.insert(k, leaf.b);
                keep = Some(lpath);
            } else if self.vhs[j] == Some(leaf.b) {
                keep = Some(lpath);
            }
        }
        let n = bp.len();
        self.build(d, &bp, &bv, 0, n, keep, old_hash, old_v)
    }

    fn single(&mut self, h: &Hash, hv: u64, enc: Option<&Node>, d: usize, i: usize) -> Ref {
        let v = self.vhs[i];
        let q = self.paths[i];
        let Some(enc) = enc else {
            return match v {
                None => (EMPTY, 0),
                Some(v) => (self.make_leaf(&q, &v), self.version),
            };
        };
        let other = enc.a;
        if other == q {
            return match v {
                None => (EMPTY, 0),
                Some(v) if enc.b == v => (*h, hv),
                Some(v) => (self.make_leaf(&q, &v), self.version),
            };
        }
        let Some(v) = v else { return (*h, hv) };
        let vb = self.version;
        let mut cur = self.make_leaf(&q, &v);
        let split = first_difference(&q, &other);
        cur = if bit(&q, split) {
            self.make_node(h, hv, &cur, vb)
        } else {
            self.make_node(&cur, vb, h, hv)
        };
        let mut dd = split;
        while dd > d {
            dd -= 1;
            cur = if bit(&q, dd) {
                self.make_node(&EMPTY, 0, &cur, vb)
            } else {
                self.make_node(&cur, vb, &EMPTY, 0)
            };
        }
        (cur, vb)
    }

    fn walk_one(&mut self, top: &Hash, top_v: u64, mut d: usize, i: usize) -> PyResult<Ref> {
        let q = self.paths[i];
        let mut h = *top;
        let mut hv = top_v;
        let mut down: Vec<Node> = Vec::new();
        let (mut cur, mut cur_v);
        loop {
            if h == EMPTY {
                (cur, cur_v) = self.single(&h, hv, None, d, i);
                break;
            }
            let enc = self.reader.read(hv, &h)?;
            if enc.leaf {
                (cur, cur_v) = self.single(&h, hv, Some(&enc), d, i);
                break;
            }
            if d >= MAX_DEPTH {
                return Err(PyValueError::new_err(
                    "SMT deeper than 256 levels: corrupt node store",
                ));
            }
            if bit(&q, d) {
                h = enc.b;
                hv = enc.bv;
            } else {
                h = enc.a;
                hv = enc.av;
            }
            down.push(enc);
            d += 1;
        }
        if cur == h {
            return Ok((*top, top_v));
        }
        for enc in down.iter().rev() {
            d -= 1;
            let right = bit(&q, d);
            let (sib, sib_v) = if right {
                (enc.a, enc.av)
            } else {
                (enc.b, enc.bv)
            };
            if cur == EMPTY && (sib == EMPTY || self.is_leaf(&sib, sib_v)?) {
                cur = sib;
                cur_v = sib_v;
            } else if sib != EMPTY || !self.is_leaf(&cur, cur_v)? {
                cur = if right {
                    self.make_node(&sib, sib_v, &cur, cur_v)
                } else {
                    self.make_node(&cur, cur_v, &sib, sib_v)
                };
                cur_v = self.version;
            }
        }
        Ok((cur, cur_v))
    }

    fn walk(&mut self, h: &Hash, hv: u64, d: usize, lo: usize, hi: usize) -> PyResult<Ref> {
        if hi - lo == 1 {
            return self.walk_one(h, hv, d, lo);
        }
        if *h == EMPTY {
            return Ok(self.fresh(d, lo, hi, None, h, hv));
        }
        let enc = self.reader.read(hv, h)?;
        if enc.leaf {
            return Ok(self.fresh(d, lo, hi, Some(&enc), h, hv));
        }
        if d >= MAX_DEPTH {
            return Err(PyValueError::new_err(
                "SMT deeper than 256 levels: corrupt node store",
            ));
        }
        let (left, right) = (enc.a, enc.b);
        let mid = bisect_left(&self.paths, &split_point(&self.paths[lo], d), lo, hi);
        let (nl, nl_v) = if lo < mid {
            self.walk(&left, enc.av, d + 1, lo, mid)?
        } else {
            (left, enc.av)
        };
        let (nr, nr_v) = if mid < hi {
            self.walk(&right, enc.bv, d + 1, mid, hi)?
        } else {
            (right, enc.bv)
        };
        if nl == left && nr == right {
            return Ok((*h, hv));
        }
        if nl == EMPTY {
            if nr == EMPTY || self.is_leaf(&nr, nr_v)? {
                return Ok((nr, nr_v));
            }
        } else if nr == EMPTY && self.is_leaf(&nl, nl_v)? {
            return Ok((nl, nl_v));
        }
        Ok((self.make_node(&nl, nl_v, &nr, nr_v), self.version))
    }
}

fn hash_arg(obj: &Bound<'_, PyAny>) -> PyResult<Option<Hash>> {
    let b = obj.downcast::<PyBytes>()?.as_bytes();
    if b.len() != 32 {
        return Ok(None);
    }
    Ok(Some(h32(b)))
}

/// `smt.update` without its argument checks (the Python wrapper makes them):
/// `changes` is a dict of 32-byte path -> 32-byte value hash or None, non-empty.
/// Returns `((new_version, new_hash), {(version, hash): body})`.
#[pyfunction]
#[pyo3(signature = (reader, nodes, root_version, root_hash, changes, version, hot=None))]
#[allow(clippy::too_many_arguments)]
pub fn smt_update<'py>(
    py: Python<'py>,
    reader: &Bound<'py, PyAny>,
    nodes: Option<Bound<'py, PyDict>>,
    root_version: u64,
    root_hash: &[u8],
    changes: &Bound<'py, PyDict>,
    version: u64,
    hot: Option<Bound<'py, PyDict>>,
) -> PyResult<(Bound<'py, PyTuple>, Bound<'py, PyDict>)> {
    let reader = Reader::from_py(reader, nodes, hot)?;
    let root_hash: Hash = root_hash
        .try_into()
        .map_err(|_| PyValueError::new_err("SMT root hash is 32 bytes"))?;
    let mut items: Vec<(Hash, Option<Hash>)> = Vec::with_capacity(changes.len());
    for (p, v) in changes.iter() {
        let path = hash_arg(&p)?;
        let vh = if v.is_none() {
            Some(None)
        } else {
            hash_arg(&v)?.map(Some)
        };
        match (path, vh) {
            (Some(path), Some(vh)) => items.push((path, vh)),
            _ => {
                return Err(PyValueError::new_err(
                    "SMT paths and value hashes are 32 bytes",
                ))
            }
        }
    }
    items.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let n = items.len();
    let mut u = Update {
        reader: &reader,
        version,
        paths: items.iter().map(|t| t.0).collect(),
        vhs: items.iter().map(|t| t.1).collect(),
        new: HashMap::with_capacity(n * 12),
        order: Vec::with_capacity(n * 12),
    };
    let (new_hash, new_v) = if n == 0 {
        (root_hash, root_version)
    } else {
        u.walk(&root_hash, root_version, 0, 0, n)?
    };
    let out = PyDict::new(py);
    let vpy = version.into_pyobject(py)?;
    for h in &u.order {
        let key = PyTuple::new(py, [vpy.clone().into_any(), PyBytes::new(py, h).into_any()])?;
        out.set_item(key, PyBytes::new(py, &u.new[h]))?;
    }
    let root = PyTuple::new(
        py,
        [
            new_v.into_pyobject(py)?.into_any(),
            PyBytes::new(py, &new_hash).into_any(),
        ],
    )?;
    Ok((root, out))
}

/// `smt.prove`'s walk: `(siblings, leaf_body_or_None)` for `path` under the root.
#[pyfunction]
#[pyo3(signature = (reader, nodes, root_version, root_hash, path, hot=None))]
pub fn smt_prove<'py>(
    py: Python<'py>,
    reader: &Bound<'py, PyAny>,
    nodes: Option<Bound<'py, PyDict>>,
    root_version: u64,
    root_hash: &[u8],
    path: &[u8],
    hot: Option<Bound<'py, PyDict>>,
) -> PyResult<(Vec<Bound<'py, PyBytes>>, Option<Bound<'py, PyTuple>>)> {
    let reader = Reader::from_py(reader, nodes, hot)?;
    let path: Hash = path
        .try_into()
        .map_err(|_| PyValueError::new_err("SMT path is 32 bytes"))?;
    let mut h: Hash = root_hash
        .try_into()
        .map_err(|_| PyValueError::new_err("SMT root hash is 32 bytes"))?;
    let mut version = root_version;
    let mut sibs = Vec::new();
    for d in 0..=MAX_DEPTH {
        if h == EMPTY {
            return Ok((sibs, None));
        }
        let enc = reader.read(version, &h)?;
        if enc.leaf {
            let leaf = PyTuple::new(py, [PyBytes::new(py, &enc.a), PyBytes::new(py, &enc.b)])?;
            return Ok((sibs, Some(leaf)));
        }
        if d < MAX_DEPTH && bit(&path, d) {
            sibs.push(PyBytes::new(py, &enc.a));
            h = enc.b;
            version = enc.bv;
        } else {
            sibs.push(PyBytes::new(py, &enc.b));
            h = enc.a;
            version = enc.av;
        }
    }
    Err(PyValueError::new_err(
        "SMT deeper than 256 levels: corrupt node store",
    ))
}

/// `smt_batch` of `phrchain.core.store`: key -> value becomes
/// key_path(key) -> value_hash(value) (None stays None), in the same order.
#[pyfunction]
pub fn smt_batch<'py>(
    py: Python<'py>,
    changes: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    for (k, v) in changes.iter() {
        let key = k.downcast::<PyBytes>()?.as_bytes();
        let path = tagged(KEY_P, key, b"");
        if v.is_none() {
            out.set_item(PyBytes::new(py, &path), py.None())?;
        } else {
            let vh = tagged(VALUE_P, v.downcast::<PyBytes>()?.as_bytes(), b"");
            out.set_item(PyBytes::new(py, &path), PyBytes::new(py, &vh))?;
        }
    }
    Ok(out)
}
