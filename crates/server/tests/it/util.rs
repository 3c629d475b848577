pub mod browser;
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
