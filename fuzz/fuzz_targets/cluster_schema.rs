//! The fleet's etcd key schema: keys and JSON values written by other gateways or tools are
//! input too. Splits the data at the first NUL into a key (under `/vxgate/`) and a value.
#![no_main]

use std::hint::black_box;

use libfuzzer_sys::fuzz_target;
use vxgate::cluster::schema::{parse_mac, parse_member, KeyName, Schema};

fuzz_target!(|data: &[u8]| {
    let (key, value) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let s = Schema::new("/vxgate");
    let mut full = b"/vxgate/".to_vec();
    full.extend_from_slice(key);
    match s.parse_key(&full) {
        Some(KeyName::Mac(k)) => {
            // One spelling per MAC: what parses renders back to the same key.
            assert_eq!(s.mac_key(&k).as_bytes(), &full[..]);
            black_box(parse_mac(k, value));
        }
        Some(KeyName::Vtep(name)) => {
            assert_eq!(s.vtep_key(&name).as_bytes(), &full[..]);
            black_box(parse_member(&name, value));
        }
        None => {}
    }
});
