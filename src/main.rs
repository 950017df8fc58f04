//! The `agora` command; everything lives in the library.

// See Cargo.toml for why the server does not use the system allocator.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    agora::cli::main()
}
