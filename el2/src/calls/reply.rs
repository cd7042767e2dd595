//! What a service call gives back: its status and the two output registers.

use syscalls::{Status, ZxResult};

/// What a call returns: its status and the two output registers.
pub struct Reply {
    pub status: Status,
    pub out: [u64; 2],
}

impl Reply {
    pub fn ok(out1: u64, out2: u64) -> Self {
        Self {
            status: Status::OK,
            out: [out1, out2],
        }
    }

    pub fn status(status: Status) -> Self {
        Self {
            status,
            out: [0, 0],
        }
    }
}

impl From<ZxResult> for Reply {
    fn from(r: ZxResult) -> Self {
        Self::status(r.err().unwrap_or(Status::OK))
    }
}

impl From<ZxResult<u64>> for Reply {
    fn from(r: ZxResult<u64>) -> Self {
        match r {
            Ok(v) => Self::ok(v, 0),
            Err(s) => Self::status(s),
        }
    }
}

impl From<ZxResult<(u64, u64)>> for Reply {
    fn from(r: ZxResult<(u64, u64)>) -> Self {
        match r {
            Ok((a, b)) => Self::ok(a, b),
            Err(s) => Self::status(s),
        }
    }
}
