//! Rebuilds the server when a migration is added: `embed_migrations!` tracks
//! the files it read, not new folders beside them.

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
