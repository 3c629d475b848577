//! One benchmark run: seed once, start both servers, interleave wrk loads, report medians.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::{Backend, RunArgs};

const WRK_SCRIPT: &str = include_str!("wrk.lua");

/// What wrk's `done` hook prints (see wrk.lua).
#[derive(Deserialize, Clone, Copy)]
struct Load {
    requests: u64,
    duration_us: u64,
    status_errors: u64,
    socket_errors: u64,
    p50_us: u64,
    p99_us: u64,
    p999_us: u64,
}

impl Load {
    fn per_sec(&self) -> f64 {
        self.requests as f64 / (self.duration_us.max(1) as f64 / 1e6)
    }
}

/// Kills the child when dropped, so an error never leaves a server behind.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn run(args: &RunArgs) -> Result<(), String> {
    let pulsekey = match &args.pulsekey {
        Some(path) => path.clone(),
        None => beside_me("pulsekey")?,
    };
    std::fs::create_dir_all(&args.work_dir)
        .map_err(|err| format!("cannot create {}: {err}", args.work_dir.display()))?;
    let dataset = Dataset::prepare(args, &pulsekey)?;
    let script = args.work_dir.join("heartbeat.lua");
    std::fs::write(&script, WRK_SCRIPT).map_err(|err| format!("cannot write the script: {err}"))?;

    let pulsekey_addr = format!("127.0.0.1:{}", args.port);
    let ceiling_addr = format!("127.0.0.1:{}", args.port + 1);
    let started = Instant::now();
    let server = Running(
        dataset
            .serve_command(&pulsekey, &pulsekey_addr)
            .spawn()
            .map_err(|err| format!("cannot start {}: {err}", pulsekey.display()))?,
    );
    wait_ready(&pulsekey_addr, "/readyz", Duration::from_secs(300))?;
    let startup = started.elapsed();
    let ceiling = Running(
        Command::new(beside_me("pulsekey-bench")?)
            .args(["ceiling", "--bind", &ceiling_addr])
            .spawn()
            .map_err(|err| format!("cannot start the ceiling server: {err}"))?,
    );
    wait_ready(&ceiling_addr, "/", Duration::from_secs(30))?;

    let wrk = Wrk {
        args,
        script: &script,
        keys: &dataset.keys,
    };
    if args.warmup > 0 {
        wrk.load(&ceiling_addr, args.warmup)?;
        wrk.load(&pulsekey_addr, args.warmup)?;
    }
    let mut ceiling_loads = Vec::new();
    let mut pulsekey_loads = Vec::new();
    let mut heap_kib = 0;
    for _ in 0..args.rounds {
        ceiling_loads.push(wrk.load(&ceiling_addr, args.duration)?);
        let sampler = HeapSampler::start(server.0.id());
        pulsekey_loads.push(wrk.load(&pulsekey_addr, args.duration)?);
        heap_kib = heap_kib.max(sampler.stop());
    }
    drop(ceiling);
    drop(server);

    report(
        args,
        startup,
        &Summary::of(&ceiling_loads),
        &Summary::of(&pulsekey_loads),
        heap_kib,
    );
    Ok(())
}

fn beside_me(name: &str) -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|err| format!("cannot locate myself: {err}"))?;
    let dir = me
        .parent()
        .ok_or("this executable has no directory")?
        .to_path_buf();
    // Test executables live one level deeper, in target/<profile>/deps.
    [dir.join(name), dir.join("..").join(name)]
        .into_iter()
        .find(|path| path.is_file())
        .ok_or_else(|| format!("no `{name}` beside {}; build it first", me.display()))
}

/// Seeded licenses and where they live; seeding a million takes minutes, so it is reused.
struct Dataset {
    data_dir: PathBuf,
    database_url: Option<String>,
    keys: PathBuf,
}

impl Dataset {
    fn prepare(args: &RunArgs, pulsekey: &Path) -> Result<Self, String> {
        let name = match args.backend {
            Backend::Sqlite => format!("sqlite-{}", args.licenses),
            Backend::Postgres => format!("postgres-{}", args.licenses),
        };
        let root = args.work_dir.join(name);
        let dataset = Self {
            data_dir: root.join("data"),
            database_url: args.database_url.clone(),
            keys: root.join("keys.txt"),
        };
        if dataset.keys.is_file() {
            eprintln!("reusing {}", root.display());
            return Ok(dataset);
        }
        std::fs::create_dir_all(&root)
            .map_err(|err| format!("cannot create {}: {err}", root.display()))?;
        eprintln!("seeding {} licenses into {}", args.licenses, root.display());
        let partial = root.join("keys.partial");
        let _ = std::fs::remove_file(&partial);
        let started = Instant::now();
        let status = dataset
            .command(pulsekey)
            .args(["dev", "seed", "--customers", &args.licenses.to_string()])
            .arg("--keys-out")
            .arg(&partial)
            .stdout(Stdio::null())
            .status()
            .map_err(|err| format!("cannot run {}: {err}", pulsekey.display()))?;
        if !status.success() {
            return Err(format!("`pulsekey dev seed` failed ({status})"));
        }
        eprintln!("seeded in {:.1} s", started.elapsed().as_secs_f64());
        std::fs::rename(&partial, &dataset.keys).map_err(|err| format!("{err}"))?;
        Ok(dataset)
    }

    fn command(&self, pulsekey: &Path) -> Command {
        let mut command = Command::new(pulsekey);
        command
            .env("PULSEKEY_DATA_DIR", &self.data_dir)
            .env("RUST_LOG", "warn");
        match &self.database_url {
            Some(url) => command.env("DATABASE_URL", url),
            None => command.env_remove("DATABASE_URL"),
        };
        command
    }

    fn serve_command(&self, pulsekey: &Path, bind: &str) -> Command {
        let mut command = self.command(pulsekey);
        command
            .arg("serve")
            .env("PULSEKEY_BIND", bind)
            // wrk sends each key many times a minute; a proxy sends it once.
            .env("PULSEKEY_HEARTBEATS_PER_KEY_PER_MINUTE", "0")
            .stdout(Stdio::null());
        command
    }
}

/// Waits until `GET path` answers 2xx (any answer at all when path is `/`).
fn wait_ready(addr: &str, path: &str, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(mut stream) = TcpStream::connect(addr) {
            let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
            let mut answer = String::new();
            if stream.write_all(request.as_bytes()).is_ok()
                && stream.read_to_string(&mut answer).is_ok()
                && (path == "/"
                    || answer.starts_with("HTTP/1.1 2")
                    || answer.starts_with("HTTP/1.0 2"))
            {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err(format!("{addr}{path} not ready after {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Wrk<'a> {
    args: &'a RunArgs,
    script: &'a Path,
    keys: &'a Path,
}

impl Wrk<'_> {
    fn load(&self, addr: &str, seconds: u32) -> Result<Load, String> {
        let output = Command::new("wrk")
            .arg(format!("-t{}", self.args.threads))
            .arg(format!("-c{}", self.args.connections))
            .arg(format!("-d{seconds}s"))
            .arg("-s")
            .arg(self.script)
            .arg(format!("http://{addr}"))
            .env("PULSEKEY_BENCH_KEYS", self.keys)
            .output()
            .map_err(|err| format!("cannot run wrk (apt-get install wrk): {err}"))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line = stdout
            .lines()
            .rev()
            .find(|line| line.starts_with('{'))
            .ok_or_else(|| {
                format!(
                    "wrk printed no summary ({}): {stdout}{}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr)
                )
            })?;
        serde_json::from_str(line).map_err(|err| format!("unreadable wrk summary {line}: {err}"))
    }
}

/// Samples the server's anonymous memory (heap; mapped database pages excluded) under load.
struct HeapSampler {
    stop: Arc<AtomicBool>,
    max_kib: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl HeapSampler {
    fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let max_kib = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, max_kib) = (stop.clone(), max_kib.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(kib) = anonymous_kib(pid) {
                        max_kib.fetch_max(kib, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(250));
                }
            })
        };
        Self {
            stop,
            max_kib,
            thread,
        }
    }

    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        self.max_kib.load(Ordering::Relaxed)
    }
}

fn anonymous_kib(pid: u32) -> Option<u64> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    rollup
        .lines()
        .find_map(|line| line.strip_prefix("Anonymous:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Medians over the rounds.
struct Summary {
    per_sec: f64,
    p50_us: u64,
    p99_us: u64,
    p999_us: u64,
    errors: u64,
    rounds: Vec<f64>,
}

impl Summary {
    fn of(loads: &[Load]) -> Self {
        fn median<T: Copy + PartialOrd>(mut values: Vec<T>) -> T {
            values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
            values[values.len() / 2]
        }
        let rounds: Vec<f64> = loads.iter().map(Load::per_sec).collect();
        Self {
            per_sec: median(rounds.clone()),
            p50_us: median(loads.iter().map(|l| l.p50_us).collect()),
            p99_us: median(loads.iter().map(|l| l.p99_us).collect()),
            p999_us: median(loads.iter().map(|l| l.p999_us).collect()),
            errors: loads
                .iter()
                .map(|l| l.status_errors + l.socket_errors)
                .sum(),
            rounds,
        }
    }
}

fn report(args: &RunArgs, startup: Duration, ceiling: &Summary, pulsekey: &Summary, heap_kib: u64) {
    let backend = match args.backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    };
    let ms = |us: u64| us as f64 / 1000.0;
    let rounds = |s: &Summary| {
        s.rounds
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    println!(
        "{backend}, {} licenses, wrk -t{} -c{} -d{}s × {} interleaved rounds (medians)\n",
        args.licenses, args.threads, args.connections, args.duration, args.rounds
    );
    println!("| server | req/s | p50 ms | p99 ms | p99.9 ms | errors | rounds req/s |");
    println!("|---|---|---|---|---|---|---|");
    for (name, s) in [("ceiling", ceiling), ("pulsekey", pulsekey)] {
        println!(
            "| {name} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {} |",
            s.per_sec,
            ms(s.p50_us),
            ms(s.p99_us),
            ms(s.p999_us),
            s.errors,
            rounds(s)
        );
    }
    println!(
        "\npulsekey ÷ ceiling: {:.1} %",
        100.0 * pulsekey.per_sec / ceiling.per_sec.max(1.0)
    );
    println!(
        "pulsekey anonymous memory under load (max): {:.1} MiB",
        heap_kib as f64 / 1024.0
    );
    println!("pulsekey start to ready: {:.1} s", startup.as_secs_f64());
}
