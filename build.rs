//! Build script: for feature `dpdk` only, finds DPDK 22.11 through pkg-config, generates the
//! FFI bindings with bindgen (allowlisted to what `io::dpdk` uses) and compiles the C shim that
//! exports DPDK's static inline functions. Without the feature it does nothing, so the software
//! port builds on machines without DPDK.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CARGO_FEATURE_DPDK");
    // The optional build dependencies exist only with the feature, so the cfg guards the code
    // and the variable guards the behaviour.
    #[cfg(feature = "dpdk")]
    if std::env::var_os("CARGO_FEATURE_DPDK").is_some() {
        dpdk::build();
    }
}

#[cfg(feature = "dpdk")]
mod dpdk {
    use std::path::PathBuf;

    const SHIM_H: &str = "src/io/dpdk/shim.h";
    const SHIM_C: &str = "src/io/dpdk/shim.c";
    const NOT_FOUND: &str = "libdpdk (DPDK 22.11) not found via pkg-config: run scripts/setup.sh \
                             (or build with --no-default-features for the software port only)";

    /// Stops the build with one clear line (cargo prints it as `error: ...`).
    fn fail(msg: &str) -> ! {
        println!("cargo::error={msg}");
        // cargo::error fails the build by itself; exiting 0 keeps the output to that one line.
        std::process::exit(0);
    }

    pub fn build() {
        println!("cargo:rerun-if-changed={SHIM_H}");
        println!("cargo:rerun-if-changed={SHIM_C}");
        println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

        // Links every library the .pc lists (Debian's shared libdpdk; --as-needed keeps it lean).
        let lib = match pkg_config::Config::new()
            .atleast_version("22.11")
            .probe("libdpdk")
        {
            Ok(lib) => lib,
            Err(_) => fail(NOT_FOUND),
        };
        println!("cargo:rustc-env=VXGATE_DPDK_VERSION={}", lib.version);

        // The cflags of the .pc besides -I (e.g. `-include rte_config.h -march=corei7`): the shim
        // and bindgen must see DPDK's headers exactly as DPDK's own build configured them.
        let other_cflags = cflags_without_includes();

        let mut cc = cc::Build::new();
        cc.file(SHIM_C)
            .includes(&lib.include_paths)
            .define("ALLOW_EXPERIMENTAL_API", None)
            .warnings(true);
        for f in &other_cflags {
            cc.flag(f);
        }
        cc.compile("vxgate_dpdk_shim");

        let mut clang_args: Vec<String> = lib
            .include_paths
            .iter()
            .map(|p| format!("-I{}", p.display()))
            .collect();
        // bindgen only parses declarations: keep the -include and -D flags, drop codegen ones.
        let mut it = other_cflags.iter();
        while let Some(f) = it.next() {
            if f == "-include" {
                if let Some(h) = it.next() {
                    clang_args.push(f.clone());
                    clang_args.push(h.clone());
                }
            } else if f.starts_with("-D") {
                clang_args.push(f.clone());
            }
        }

        let bindings = bindgen::Builder::default()
            .header(SHIM_H)
            .clang_args(&clang_args)
            .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
            .allowlist_function("vxgate_.*")
            .allowlist_function("rte_eal_init")
            .allowlist_function("rte_eal_cleanup")
            .allowlist_function("rte_eth_.*")
            .allowlist_function("rte_pktmbuf_pool_create")
            .allowlist_function("rte_mempool_(free|avail_count|in_use_count|lookup)")
            .allowlist_function("rte_thread_(register|unregister)")
            .allowlist_function("rte_strerror")
            .allowlist_function("rte_socket_id")
            .allowlist_function("rte_lcore_count")
            .allowlist_type("vxgate_const")
            .allowlist_var("RTE_MBUF_F_TX_IPV4")
            .allowlist_var("RTE_MBUF_F_TX_IP_CKSUM")
            .allowlist_var("RTE_MBUF_F_INDIRECT")
            .allowlist_var("RTE_MBUF_F_EXTERNAL")
            .allowlist_var("RTE_ETH_.*")
            .allowlist_var("RTE_MAX_ETHPORTS")
            .allowlist_var("RTE_ETH_NAME_MAX_LEN")
            .allowlist_var("SOCKET_ID_ANY")
            // rte_mbuf gets its real layout (anonymous unions and bit-fields included) so the
            // per-packet accessors in mbuf.rs are plain loads and stores Rust can inline; shim.h
            // exports clang's offsetof of every field read, checked against this layout at
            // compile time. Mempools are touched only in the shim.
            .allowlist_type("rte_mbuf")
            .allowlist_type("vxgate_mbuf_layout")
            .opaque_type("rte_mempool")
            .opaque_type("rte_mbuf_ext_shared_info")
            .prepend_enum_name(false)
            .derive_default(true)
            .layout_tests(false)
            .generate_comments(false)
            .generate()
            .unwrap_or_else(|e| fail(&format!("bindgen failed on {SHIM_H}: {e}")));
        let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_else(|_| fail("OUT_DIR unset")));
        bindings
            .write_to_file(out.join("dpdk_bindings.rs"))
            .unwrap_or_else(|e| fail(&format!("cannot write bindings: {e}")));

        // Where Debian's shared DPDK keeps its driver plugins (net_pcap, net_null, ...). EAL
        // loads this directory by itself; Eal::init passes it with -d only if asked to.
        if let Ok(libdir) = pkg_config::get_variable("libdpdk", "libdir") {
            if let Some(dir) = pmd_dir(&libdir) {
                println!("cargo:rustc-env=VXGATE_DPDK_PMD_DIR={dir}");
            }
        }
    }

    /// The non-`-I` words of `pkg-config --cflags libdpdk`.
    fn cflags_without_includes() -> Vec<String> {
        let out = std::process::Command::new(
            std::env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into()),
        )
        .args(["--cflags", "libdpdk"])
        .output();
        let Ok(out) = out else { return Vec::new() };
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter(|w| !w.starts_with("-I"))
            .map(str::to_owned)
            .collect()
    }

    /// `<libdir>/dpdk/pmds-<ABI>`, the newest one present.
    fn pmd_dir(libdir: &str) -> Option<String> {
        let base = PathBuf::from(libdir).join("dpdk");
        let mut dirs: Vec<String> = std::fs::read_dir(&base)
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("pmds-"))
            .collect();
        dirs.sort();
        let last = dirs.pop()?;
        Some(base.join(last).display().to_string())
    }
}
