//! How a heartbeat answer is signed, shared by the server that signs and the agent that
//! checks, so the two cannot drift.
//!
//! Ed25519 costs more than the rest of a heartbeat, so answers produced together share one
//! signature over a Merkle root, as Roughtime does:
//!
//! - leaf = SHA-256(0x00 ‖ `pulsekey-heartbeat-v1\n` ‖ SHA-256(key) ‖ nonce ‖ `\n` ‖ body),
//!   where key is the bearer token the request presented (trimmed; empty when none), nonce
//!   the request's `X-Pulsekey-Nonce` (empty when none was sent) and body the exact bytes.
//!   The key binds the answer to the proxy that asked: an attacker who relays a proxy's
//!   nonce with another key (a garbage one, their own revoked one) gets an answer that does
//!   not verify for that proxy;
//! - node = SHA-256(0x01 ‖ left ‖ right); leaves are padded with zeros to a power of two;
//! - the signature covers `pulsekey-heartbeat-batch-v1\n` ‖ root;
//! - the header `X-Pulsekey-Signature` is `{signature}.{index}.{path}`: standard base64 of
//!   the 64-byte signature, the leaf's index in decimal, and standard base64 of the sibling
//!   hashes from the leaf up (empty for a batch of one).

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

pub const NONCE_HEADER: &str = "x-pulsekey-nonce";
pub const SIGNATURE_HEADER: &str = "x-pulsekey-signature";
/// Deepest tree a proof may describe: 2^16 answers under one signature is plenty.
pub const MAX_DEPTH: usize = 16;

const LEAF_CONTEXT: &[u8] = b"pulsekey-heartbeat-v1\n";
const ROOT_CONTEXT: &[u8] = b"pulsekey-heartbeat-batch-v1\n";

pub type Hash = [u8; 32];

/// The leaf that stands for one answer to the request that presented `key` and `nonce`.
pub fn leaf_hash(key: &str, nonce: &str, body: &[u8]) -> Hash {
    Sha256::new()
        .chain_update([0])
        .chain_update(LEAF_CONTEXT)
        .chain_update(Sha256::digest(key.as_bytes()))
        .chain_update(nonce.as_bytes())
        .chain_update(b"\n")
        .chain_update(body)
        .finalize()
        .into()
}

fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new()
        .chain_update([1])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// The bytes the Ed25519 signature covers.
pub fn signed_message(root: &Hash) -> Vec<u8> {
    [ROOT_CONTEXT, root.as_slice()].concat()
}

/// The root over `leaves` and, for each leaf, its path of siblings from the bottom up.
pub fn merkle_tree(leaves: &[Hash]) -> (Hash, Vec<Vec<Hash>>) {
    let width = leaves.len().max(1).next_power_of_two();
    let mut level: Vec<Hash> = leaves.to_vec();
    level.resize(width, [0; 32]);
    let mut paths = vec![Vec::new(); leaves.len()];
    let mut size = 1;
    while level.len() > 1 {
        for (leaf, path) in paths.iter_mut().enumerate() {
            let at = leaf / size;
            path.push(level[at ^ 1]);
        }
        level = level
            .chunks_exact(2)
            .map(|pair| node_hash(&pair[0], &pair[1]))
            .collect();
        size *= 2;
    }
    (level[0], paths)
}

/// One answer's share of a batch signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchProof {
    pub signature: [u8; 64],
    pub index: usize,
    pub path: Vec<Hash>,
}

impl BatchProof {
    /// The root this proof leads to from `leaf`.
    pub fn root(&self, leaf: Hash) -> Hash {
        self.path
            .iter()
            .enumerate()
            .fold(leaf, |hash, (depth, sibling)| {
                if (self.index >> depth) & 1 == 0 {
                    node_hash(&hash, sibling)
                } else {
                    node_hash(sibling, &hash)
                }
            })
    }

    pub fn to_header(&self) -> String {
        let engine = base64::engine::general_purpose::STANDARD;
        format!(
            "{}.{}.{}",
            engine.encode(self.signature),
            self.index,
            engine.encode(self.path.concat())
        )
    }

    /// Reads a header; `None` for anything malformed.
    pub fn from_header(value: &str) -> Option<Self> {
        let engine = base64::engine::general_purpose::STANDARD;
        let mut parts = value.trim().split('.');
        let (signature, index, path) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let signature: [u8; 64] = engine.decode(signature).ok()?.try_into().ok()?;
        let index: usize = index.parse().ok()?;
        let path = engine.decode(path).ok()?;
        if path.len() % 32 != 0 || path.len() / 32 > MAX_DEPTH || index >> (path.len() / 32) != 0 {
            return None;
        }
        let path = path
            .chunks_exact(32)
            .map(|chunk| chunk.try_into().ok())
            .collect::<Option<Vec<Hash>>>()?;
        Some(Self {
            signature,
            index,
            path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash("pk_key", &format!("n{i}"), b"{}"))
            .collect()
    }

    #[test]
    fn every_leaf_of_every_batch_size_leads_to_the_root() {
        for n in 1..=33 {
            let leaves = leaves(n);
            let (root, paths) = merkle_tree(&leaves);
            for (index, (leaf, path)) in leaves.iter().zip(paths).enumerate() {
                let proof = BatchProof {
                    signature: [7; 64],
                    index,
                    path,
                };
                let read = BatchProof::from_header(&proof.to_header()).unwrap();
                assert_eq!(read, proof);
                assert_eq!(read.root(*leaf), root, "leaf {index} of {n}");
            }
        }
    }

    #[test]
    fn a_batch_of_one_signs_the_leaf_itself() {
        let leaves = leaves(1);
        let (root, paths) = merkle_tree(&leaves);
        assert_eq!(root, leaves[0]);
        assert!(paths[0].is_empty());
    }

    #[test]
    fn another_leaf_or_position_does_not_lead_to_the_root() {
        let leaves = leaves(4);
        let (root, paths) = merkle_tree(&leaves);
        let proof = BatchProof {
            signature: [0; 64],
            index: 1,
            path: paths[1].clone(),
        };
        assert_eq!(proof.root(leaves[1]), root);
        assert_ne!(proof.root(leaves[2]), root);
        assert_ne!(proof.root(leaf_hash("pk_key", "n1", b"{ }")), root);
        // The same nonce and body for another key is another leaf.
        assert_ne!(proof.root(leaf_hash("pk_other", "n1", b"{}")), root);
        let moved = BatchProof { index: 2, ..proof };
        assert_ne!(moved.root(leaves[1]), root);
    }

    #[test]
    fn malformed_headers_are_refused() {
        let sig = base64::engine::general_purpose::STANDARD.encode([0u8; 64]);
        for header in [
            String::new(),
            "x.0.".into(),
            format!("{sig}.0"),
            format!("{sig}.1."),
            format!("{sig}.0.AAAA"),
            format!("{sig}.-1."),
            format!("{sig}.0..extra"),
        ] {
            assert_eq!(BatchProof::from_header(&header), None, "{header}");
        }
        assert!(BatchProof::from_header(&format!("{sig}.0.")).is_some());
    }
}
