// Loaded as a file, not inline, so the Content-Security-Policy can forbid inline script.
import init from "/pkg/frontend.js";
init({ module_or_path: "/pkg/frontend_bg.wasm" });
