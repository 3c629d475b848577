//! `/admin/fleet`, where an admin lands: every installation at a glance. Each number links
//! to the server list filtered to exactly those installations.

use leptos::prelude::*;
use leptos_router::components::A;
use pulsekey_types::{FleetHistory, FleetSummary, VersionCount};

use crate::api;
use crate::components::error_view::Loaded;
use crate::time_fmt;

#[component]
pub fn FleetPage() -> impl IntoView {
    crate::app::page_title("Fleet");
    let live = crate::live::use_live();
    let fleet = LocalResource::new(move || {
        live.track();
        api::fleet()
    });
    view! {
        <h1>"Fleet"</h1>
        <Loaded>
            {move || Suspend::new(async move { fleet.await.map(|fleet| view! { <Overview fleet/> }) })}
        </Loaded>
        <OnlineChart/>
    }
}

#[component]
fn Overview(fleet: FleetSummary) -> impl IntoView {
    let l = fleet.licenses;
    let c = fleet.connections;
    let sampled = fleet
        .sampled_at
        .map(|at| format!("Connections and versions as of {}.", time_fmt::local(at)));
    view! {
        <section aria-labelledby="licenses-heading">
            <h2 id="licenses-heading">"Licenses"</h2>
            <div class="tiles">
                <Tile testid="tile-status-ACTIVE" label="Active" value=l.active href="/admin/servers?status=ACTIVE" tone="ok"/>
                <Tile testid="tile-status-GRACE" label="In grace" value=l.grace href="/admin/servers?status=GRACE" tone="warn"/>
                <Tile testid="tile-status-EXPIRED" label="Expired" value=l.expired href="/admin/servers?status=EXPIRED" tone="bad"/>
            </div>
        </section>
        <section aria-labelledby="connections-heading">
            <h2 id="connections-heading">"Installations"</h2>
            <div class="tiles">
                <Tile testid="tile-connection-online" label="Online" value=c.online href="/admin/servers?connection=online" tone="ok"/>
                <Tile testid="tile-connection-late" label="Late" value=c.late href="/admin/servers?connection=late" tone="warn"/>
                <Tile testid="tile-connection-offline" label="Offline" value=c.offline href="/admin/servers?connection=offline" tone="bad"/>
                <Tile testid="tile-connection-never" label="Never seen" value=c.never href="/admin/servers?connection=never" tone="none"/>
            </div>
            <p class="hint">
                "Online: a heartbeat within 2 intervals; late: within 10; offline: longer ago. "
                {sampled}
            </p>
        </section>
        <div class="fleet-columns">
            <section aria-labelledby="versions-heading" class="card">
                <h2 id="versions-heading">"Versions installed"</h2>
                <VersionChart versions=fleet.versions/>
            </section>
            <section aria-labelledby="attention-heading" class="card">
                <h2 id="attention-heading">"Needs attention"</h2>
                <p data-testid="old-keys-in-use">
                    {match fleet.old_keys_in_use {
                        0 => "No installation is calling with a key that was regenerated.".to_owned(),
                        1 => "1 installation called in the last hour with a key that was regenerated: its customer has not re-run Install.".to_owned(),
                        n => format!("{n} installations called in the last hour with a key that was regenerated: their customers have not re-run Install."),
                    }}
                </p>
                <h3>"Grace windows ending within 7 days"</h3>
                {if fleet.grace_ending_soon.is_empty() {
                    view! { <p class="hint" data-testid="grace-ending-none">"None."</p> }.into_any()
                } else {
                    view! {
                        <ul class="plain" data-testid="grace-ending-soon">
                            {fleet
                                .grace_ending_soon
                                .into_iter()
                                .map(|g| {
                                    view! {
                                        <li>
                                            <A href=format!("/admin/servers?q={}", String::from(js_sys::encode_uri_component(&g.server_name)))>
                                                {g.server_name}
                                            </A>
                                            " ("
                                            {g.owner_username}
                                            ") ends "
                                            {time_fmt::local(g.grace_expires_at)}
                                        </li>
                                    }
                                })
                                .collect_view()}
                        </ul>
                    }
                        .into_any()
                }}
            </section>
        </div>
    }
}

#[component]
fn Tile(
    testid: &'static str,
    label: &'static str,
    value: i64,
    href: &'static str,
    tone: &'static str,
) -> impl IntoView {
    view! {
        <A href=href attr:class=format!("tile tone-{tone}") attr:data-testid=testid>
            <span class="tile-value">{value}</span>
            <span class="tile-label">{label}</span>
        </A>
    }
}

/// One bar per version, longest first, each a link to its installations.
#[component]
fn VersionChart(versions: Vec<VersionCount>) -> impl IntoView {
    if versions.is_empty() {
        return view! { <p class="hint">"No installation has called in yet."</p> }.into_any();
    }
    let shown: Vec<VersionCount> = versions.iter().take(8).cloned().collect();
    let rest: i64 = versions.iter().skip(8).map(|v| v.count).sum();
    let max = shown.iter().map(|v| v.count).max().unwrap_or(1).max(1) as f64;
    let bars = shown
        .into_iter()
        .map(|v| {
            // Whole percents: finer is not visible.
            let width = ((v.count as f64 / max * 100.0).round() as i64).max(1);
            let label = if v.version.is_empty() {
                "(none)".to_owned()
            } else {
                v.version.clone()
            };
            let href = format!(
                "/admin/servers?version={}",
                String::from(js_sys::encode_uri_component(&v.version))
            );
            view! {
                <li>
                    <A href=href attr:class="bar-row" attr:data-testid="version-bar">
                        <span class="bar-label">{label}</span>
                        <span class="bar-track" aria-hidden="true">
                            <span class="bar" style=format!("width: {width}%")></span>
                        </span>
                        <span class="bar-count">{v.count}</span>
                    </A>
                </li>
            }
        })
        .collect_view();
    view! {
        <ul class="bars" aria-label="Installations per version">{bars}</ul>
        {(rest > 0).then(|| view! { <p class="hint">{format!("Other versions: {rest}")}</p> })}
    }
    .into_any()
}

/// Online installations over the last 24 hours or 7 days, drawn as an SVG line.
#[component]
fn OnlineChart() -> impl IntoView {
    let hours = RwSignal::new(24_i64);
    let live = crate::live::use_live();
    let history = LocalResource::new(move || {
        live.track();
        api::fleet_history(hours.get())
    });
    let choice = move |value: i64, text: &'static str| {
        view! {
            <button
                class="toggle"
                aria-pressed=move || (hours.get() == value).to_string()
                on:click=move |_| hours.set(value)
            >
                {text}
            </button>
        }
    };
    view! {
        <section aria-labelledby="online-heading" class="card">
            <div class="card-head">
                <h2 id="online-heading">"Online installations"</h2>
                <div class="toggles" role="group" aria-label="Period">
                    {choice(24, "24 h")}
                    {choice(168, "7 days")}
                </div>
            </div>
            <Loaded>
                {move || Suspend::new(async move { history.await.map(|h| view! { <LineChart history=h/> }) })}
            </Loaded>
        </section>
    }
}

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 160.0;
const PAD_LEFT: f64 = 44.0;
const PAD_BOTTOM: f64 = 22.0;

#[component]
fn LineChart(history: FleetHistory) -> impl IntoView {
    let points: Vec<(f64, i64)> = history
        .samples
        .iter()
        .map(|s| (s.at.unix_timestamp() as f64, s.connections.online))
        .collect();
    if points.is_empty() {
        return view! { <p class="hint" data-testid="online-chart-empty">"No samples in this period yet."</p> }
            .into_any();
    }
    let (t0, t1) = (
        history.from.unix_timestamp() as f64,
        history.to.unix_timestamp() as f64,
    );
    let span = (t1 - t0).max(1.0);
    let top = points.iter().map(|p| p.1).max().unwrap_or(0).max(1) as f64;
    // Whole units of the view box: finer is not visible, and the SVG is shorter.
    let x = |t: f64| (PAD_LEFT + (t - t0) / span * (WIDTH - PAD_LEFT - 4.0)).round() as i64;
    let y = |v: f64| (6.0 + (1.0 - v / top) * (HEIGHT - PAD_BOTTOM - 6.0)).round() as i64;
    let (left, right) = (PAD_LEFT as i64, WIDTH as i64 - 4);
    let path = points
        .iter()
        .map(|(t, v)| format!("{},{}", x(*t), y(*v as f64)))
        .collect::<Vec<_>>()
        .join(" ");
    let (last_at, last) = *points.last().unwrap_or(&(t1, 0));
    let summary = format!(
        "{} samples; {} online at the latest, at most {} in the period.",
        points.len(),
        last,
        top as i64
    );
    let start_label = time_fmt::local(history.from);
    let end_label = time_fmt::local(history.to);
    view! {
        <svg
            class="chart"
            viewBox=format!("0 0 {} {}", WIDTH as i64, HEIGHT as i64)
            role="img"
            aria-label=format!("Online installations. {summary}")
            data-testid="online-chart"
        >
            <line class="axis" x1=left y1=y(0.0) x2=right y2=y(0.0)/>
            <line class="grid" x1=left y1=y(top) x2=right y2=y(top)/>
            <text class="tick" x=left - 6 y=y(top) + 4 text-anchor="end">{top as i64}</text>
            <text class="tick" x=left - 6 y=y(0.0) + 4 text-anchor="end">"0"</text>
            <polyline class="line" points=path/>
            <circle class="dot" cx=x(last_at) cy=y(last as f64) r="3"/>
        </svg>
        <div class="chart-span hint">
            <span>{start_label}</span>
            <span>{end_label}</span>
        </div>
        <p class="hint">{summary}</p>
    }
    .into_any()
}
