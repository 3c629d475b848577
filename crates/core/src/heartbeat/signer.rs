//! Batch signing of heartbeat answers (the format is in `pulsekey_types::signature`).
//!
//! An Ed25519 signature costs about 18 µs here, more than the rest of a heartbeat. Answers
//! that become ready on one worker in the same turn of its event loop join one batch: the
//! first schedules the signing task behind the requests already queued and those the next
//! look at the sockets brings, so under load one signature covers many answers, and a lone
//! heartbeat waits for nothing but that one look.

use std::cell::RefCell;
use std::sync::Arc;

use ed25519_dalek::{Signer as _, SigningKey};
use pulsekey_types::signature::{self, BatchProof, Hash};
use tokio::sync::oneshot;

/// More answers than this in one turn are split over several signatures, keeping paths short.
const MAX_BATCH: usize = 64;

type Waiting = Vec<(Hash, oneshot::Sender<BatchProof>)>;

thread_local! {
    // Per worker thread: batching needs no lock, and a batch never waits on another thread.
    static WAITING: RefCell<Waiting> = const { RefCell::new(Vec::new()) };
}

#[derive(Clone)]
pub struct BatchSigner {
    key: Arc<SigningKey>,
}

impl BatchSigner {
    pub fn new(key: SigningKey) -> Self {
        Self { key: Arc::new(key) }
    }

    /// The proof for the answer whose leaf is `leaf` ([`signature::leaf_hash`]). Must run
    /// inside a `LocalSet`, as actix workers do.
    pub async fn sign(&self, leaf: Hash) -> Option<BatchProof> {
        let (tx, rx) = oneshot::channel();
        let first = WAITING.with(|waiting| {
            let mut waiting = waiting.borrow_mut();
            waiting.push((leaf, tx));
            waiting.len() == 1
        });
        if first {
            let key = self.key.clone();
            tokio::task::spawn_local(async move {
                // Tokio runs a yielded task after its next look at the sockets, so the
                // requests that arrived meanwhile join this batch too.
                tokio::task::yield_now().await;
                let mut batch = WAITING.with(|waiting| std::mem::take(&mut *waiting.borrow_mut()));
                while !batch.is_empty() {
                    let rest = batch.split_off(batch.len().min(MAX_BATCH));
                    sign_batch(&key, batch);
                    batch = rest;
                }
            });
        }
        rx.await.ok()
    }
}

fn sign_batch(key: &SigningKey, batch: Waiting) {
    let leaves: Vec<Hash> = batch.iter().map(|(leaf, _)| *leaf).collect();
    let (root, paths) = signature::merkle_tree(&leaves);
    let signature = key.sign(&signature::signed_message(&root)).to_bytes();
    for (index, ((_, tx), path)) in batch.into_iter().zip(paths).enumerate() {
        // The requester may have gone (client disconnected): nothing to do then.
        let _ = tx.send(BatchProof {
            signature,
            index,
            path,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Verifier as _;

    /// The signer batches per thread, as on an actix worker.
    async fn on_one_thread<F: std::future::Future>(f: F) -> F::Output {
        tokio::task::LocalSet::new().run_until(f).await
    }

    #[tokio::test]
    async fn answers_ready_together_share_one_signature_and_each_verifies() {
        on_one_thread(async {
            let key = SigningKey::from_bytes(&[3; 32]);
            let signer = BatchSigner::new(key.clone());
            let nonces: Vec<String> = (0..100).map(|n| format!("n{n}")).collect();
            let proofs = futures_util::future::join_all(
                nonces
                    .iter()
                    .map(|nonce| signer.sign(signature::leaf_hash("pk_k", nonce, b"{}"))),
            )
            .await;
            let mut signatures = std::collections::HashSet::new();
            for (nonce, proof) in nonces.iter().zip(proofs) {
                let proof = proof.unwrap();
                let root = proof.root(signature::leaf_hash("pk_k", nonce, b"{}"));
                let sig = ed25519_dalek::Signature::from_bytes(&proof.signature);
                key.verifying_key()
                    .verify(&signature::signed_message(&root), &sig)
                    .unwrap();
                signatures.insert(proof.signature);
            }
            // 100 answers in one turn: two chunks of at most 64.
            assert_eq!(signatures.len(), 2);
        })
        .await;
    }

    #[tokio::test]
    async fn a_lone_answer_is_signed_alone() {
        on_one_thread(async {
            let key = SigningKey::from_bytes(&[3; 32]);
            let proof = BatchSigner::new(key)
                .sign(signature::leaf_hash("pk_k", "n", b"{}"))
                .await
                .unwrap();
            assert!(proof.path.is_empty());
            assert_eq!(proof.index, 0);
        })
        .await;
    }
}
