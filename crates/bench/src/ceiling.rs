//! The ceiling: what this machine's actix-web answers when a heartbeat costs nothing.

use actix_web::{App, HttpResponse, HttpServer, web};

const ANSWER: &str = r#"{"status":"ACTIVE","graceExpiresAt":null,"heartbeatIntervalSecs":60,"serverTime":"2026-11-29T12:00:00Z"}"#;

// Takes the body like pulsekey does: an unread body makes actix close the connection.
async fn heartbeat(_body: web::Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(ANSWER)
}

pub fn serve(bind: &str) -> std::io::Result<()> {
    actix_web::rt::System::new().block_on(async {
        HttpServer::new(|| App::new().route("/heartbeat", web::post().to(heartbeat)))
            .bind(bind)?
            .run()
            .await
    })
}
