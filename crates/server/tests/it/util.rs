pub mod browser;

/// Asserts a 429 in the JSON shape whose `Retry-After` is within `1..=max_secs`.
pub async fn assert_retry_after(response: reqwest::Response, max_secs: u64) {
    assert_eq!(response.status(), 429);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=max_secs).contains(&retry), "{retry}");
    assert_eq!(
        response
            .json::<pulsekey_types::ErrorBody>()
            .await
            .unwrap()
            .error,
        pulsekey_types::ErrorCode::TooManyRequests
    );
}

pub mod serve;
pub mod test_app;

/// Declares each test twice: `name::sqlite` and `name::postgres`, each with a fresh
/// server on a fresh database.
macro_rules! both_backends {
    ($(async fn $name:ident($app:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $app = $crate::util::test_app::TestApp::sqlite().await;
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let $app = $crate::util::test_app::TestApp::postgres().await;
                $body
            }
        }
    )*};
}
