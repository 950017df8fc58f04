//! The `agora` command; everything lives in the library.

fn main() -> std::process::ExitCode {
    agora::cli::main()
}
