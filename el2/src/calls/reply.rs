//! What a service call gives back: its status and the two output registers.

use syscalls::{Status, ZxResult};
use vcpu::regs::RegisterFile;

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

    /// Puts the reply in the host's registers: x0 = the status
    /// (sign-extended), x1 and x2 = the outputs.
    pub fn write_to(&self, frame: &mut RegisterFile) {
        frame.x[0] = self.status.into_raw() as i64 as u64;
        frame.x[1] = self.out[0];
        frame.x[2] = self.out[1];
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
