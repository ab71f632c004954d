//! What the connectors' tests share: the real servers (the helpers of
//! `tests/common/brokers/`, included by path so there is one copy) and a
//! message whose body and headers would show any byte lost or changed.

use bytes::Bytes;

use super::connector::{Address, Message};

#[path = "../../../tests/common/brokers/mod.rs"]
pub(super) mod brokers;

/// A body that is not UTF-8 and not JSON (NUL, 0xFF, CR LF), so only a
/// byte-exact path keeps it.
pub(super) const BODY: &[u8] = b"{\"a\":1}\x00\xff\r\n\xc3\x28 end";

/// The headers a publish carries, in the order of [`Message::headers`].
pub(super) fn headers() -> Vec<(String, String)> {
    vec![
        ("hookroute-event-id".into(), "01JDX0000000000000000000EV".into()),
        ("hookroute-route".into(), "github".into()),
        ("content-type".into(), "application/json".into()),
        ("traceparent".into(), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
    ]
}

pub(super) fn message(address: Address) -> Message {
    Message { address, headers: headers(), body: Bytes::from_static(BODY) }
}
