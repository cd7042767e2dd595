//! `zx_status_t`: the status codes every call returns (reference §1).

use core::fmt;

/// A Zircon status code (`zx_status_t`). `Status::OK` is success, every other value an error.
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Status(i32);

/// The result of a call: `Ok` on `ZX_OK`, otherwise the error status.
pub type ZxResult<T = ()> = Result<T, Status>;

impl Status {
    /// `ZX_OK`.
    pub const OK: Status = Status(0);
    /// `ZX_ERR_INTERNAL`.
    pub const INTERNAL: Status = Status(-1);
    /// `ZX_ERR_NOT_SUPPORTED`.
    pub const NOT_SUPPORTED: Status = Status(-2);
    /// `ZX_ERR_NO_RESOURCES`.
    pub const NO_RESOURCES: Status = Status(-3);
    /// `ZX_ERR_NO_MEMORY`.
    pub const NO_MEMORY: Status = Status(-4);
    /// `ZX_ERR_INTERNAL_INTR_RETRY`: a host interrupt is pending; take it and repeat the call.
    pub const INTERNAL_INTR_RETRY: Status = Status(-6);
    /// `ZX_ERR_INVALID_ARGS`.
    pub const INVALID_ARGS: Status = Status(-10);
    /// `ZX_ERR_BAD_HANDLE`.
    pub const BAD_HANDLE: Status = Status(-11);
    /// `ZX_ERR_WRONG_TYPE`.
    pub const WRONG_TYPE: Status = Status(-12);
    /// `ZX_ERR_BAD_SYSCALL`.
    pub const BAD_SYSCALL: Status = Status(-13);
    /// `ZX_ERR_OUT_OF_RANGE`.
    pub const OUT_OF_RANGE: Status = Status(-14);
    /// `ZX_ERR_BUFFER_TOO_SMALL`.
    pub const BUFFER_TOO_SMALL: Status = Status(-15);
    /// `ZX_ERR_BAD_STATE`.
    pub const BAD_STATE: Status = Status(-20);
    /// `ZX_ERR_TIMED_OUT`.
    pub const TIMED_OUT: Status = Status(-21);
    /// `ZX_ERR_SHOULD_WAIT`.
    pub const SHOULD_WAIT: Status = Status(-22);
    /// `ZX_ERR_CANCELED`.
    pub const CANCELED: Status = Status(-23);
    /// `ZX_ERR_PEER_CLOSED`.
    pub const PEER_CLOSED: Status = Status(-24);
    /// `ZX_ERR_NOT_FOUND`.
    pub const NOT_FOUND: Status = Status(-25);
    /// `ZX_ERR_ALREADY_EXISTS`.
    pub const ALREADY_EXISTS: Status = Status(-26);
    /// `ZX_ERR_ALREADY_BOUND`.
    pub const ALREADY_BOUND: Status = Status(-27);
    /// `ZX_ERR_UNAVAILABLE`.
    pub const UNAVAILABLE: Status = Status(-28);
    /// `ZX_ERR_ACCESS_DENIED`.
    pub const ACCESS_DENIED: Status = Status(-30);
    /// `ZX_ERR_IO`.
    pub const IO: Status = Status(-40);
    /// `ZX_ERR_IO_REFUSED`.
    pub const IO_REFUSED: Status = Status(-41);
    /// `ZX_ERR_IO_DATA_INTEGRITY`.
    pub const IO_DATA_INTEGRITY: Status = Status(-42);
    /// `ZX_ERR_IO_DATA_LOSS`.
    pub const IO_DATA_LOSS: Status = Status(-43);
    /// `ZX_ERR_IO_NOT_PRESENT`.
    pub const IO_NOT_PRESENT: Status = Status(-44);
    /// `ZX_ERR_STOP`.
    pub const STOP: Status = Status(-60);
    /// `ZX_ERR_NEXT`.
    pub const NEXT: Status = Status(-61);
    /// `ZX_ERR_ASYNC`.
    pub const ASYNC: Status = Status(-62);

    /// Wraps a raw `zx_status_t`.
    pub const fn from_raw(raw: i32) -> Status {
        Status(raw)
    }

    /// The raw `zx_status_t`.
    pub const fn into_raw(self) -> i32 {
        self.0
    }

    /// `Ok(())` for `ZX_OK`, otherwise `Err` with the status.
    pub const fn ok(raw: i32) -> ZxResult {
        if raw == Self::OK.0 {
            Ok(())
        } else {
            Err(Status(raw))
        }
    }

    /// The Zircon name, e.g. `"ZX_ERR_BAD_HANDLE"`, or `"UNKNOWN"` for a value not listed here.
    pub const fn name(self) -> &'static str {
        match self {
            Self::OK => "ZX_OK",
            Self::INTERNAL => "ZX_ERR_INTERNAL",
            Self::NOT_SUPPORTED => "ZX_ERR_NOT_SUPPORTED",
            Self::NO_RESOURCES => "ZX_ERR_NO_RESOURCES",
            Self::NO_MEMORY => "ZX_ERR_NO_MEMORY",
            Self::INTERNAL_INTR_RETRY => "ZX_ERR_INTERNAL_INTR_RETRY",
            Self::INVALID_ARGS => "ZX_ERR_INVALID_ARGS",
            Self::BAD_HANDLE => "ZX_ERR_BAD_HANDLE",
            Self::WRONG_TYPE => "ZX_ERR_WRONG_TYPE",
            Self::BAD_SYSCALL => "ZX_ERR_BAD_SYSCALL",
            Self::OUT_OF_RANGE => "ZX_ERR_OUT_OF_RANGE",
            Self::BUFFER_TOO_SMALL => "ZX_ERR_BUFFER_TOO_SMALL",
            Self::BAD_STATE => "ZX_ERR_BAD_STATE",
            Self::TIMED_OUT => "ZX_ERR_TIMED_OUT",
            Self::SHOULD_WAIT => "ZX_ERR_SHOULD_WAIT",
            Self::CANCELED => "ZX_ERR_CANCELED",
            Self::PEER_CLOSED => "ZX_ERR_PEER_CLOSED",
            Self::NOT_FOUND => "ZX_ERR_NOT_FOUND",
            Self::ALREADY_EXISTS => "ZX_ERR_ALREADY_EXISTS",
            Self::ALREADY_BOUND => "ZX_ERR_ALREADY_BOUND",
            Self::UNAVAILABLE => "ZX_ERR_UNAVAILABLE",
            Self::ACCESS_DENIED => "ZX_ERR_ACCESS_DENIED",
            Self::IO => "ZX_ERR_IO",
            Self::IO_REFUSED => "ZX_ERR_IO_REFUSED",
            Self::IO_DATA_INTEGRITY => "ZX_ERR_IO_DATA_INTEGRITY",
            Self::IO_DATA_LOSS => "ZX_ERR_IO_DATA_LOSS",
            Self::IO_NOT_PRESENT => "ZX_ERR_IO_NOT_PRESENT",
            Self::STOP => "ZX_ERR_STOP",
            Self::NEXT => "ZX_ERR_NEXT",
            Self::ASYNC => "ZX_ERR_ASYNC",
            _ => "UNKNOWN",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

impl fmt::Debug for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl core::error::Error for Status {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_match_the_reference() {
        let expected = [
            (Status::OK, 0),
            (Status::INTERNAL, -1),
            (Status::NOT_SUPPORTED, -2),
            (Status::NO_RESOURCES, -3),
            (Status::NO_MEMORY, -4),
            (Status::INTERNAL_INTR_RETRY, -6),
            (Status::INVALID_ARGS, -10),
            (Status::BAD_HANDLE, -11),
            (Status::WRONG_TYPE, -12),
            (Status::BAD_SYSCALL, -13),
            (Status::OUT_OF_RANGE, -14),
            (Status::BUFFER_TOO_SMALL, -15),
            (Status::BAD_STATE, -20),
            (Status::TIMED_OUT, -21),
            (Status::SHOULD_WAIT, -22),
            (Status::CANCELED, -23),
            (Status::PEER_CLOSED, -24),
            (Status::NOT_FOUND, -25),
            (Status::ALREADY_EXISTS, -26),
            (Status::ALREADY_BOUND, -27),
            (Status::UNAVAILABLE, -28),
            (Status::ACCESS_DENIED, -30),
            (Status::IO, -40),
            (Status::IO_REFUSED, -41),
            (Status::IO_DATA_INTEGRITY, -42),
            (Status::IO_DATA_LOSS, -43),
            (Status::IO_NOT_PRESENT, -44),
            (Status::STOP, -60),
            (Status::NEXT, -61),
            (Status::ASYNC, -62),
        ];
        for (status, raw) in expected {
            assert_eq!(status.into_raw(), raw, "{}", status.name());
            assert_eq!(Status::from_raw(raw), status);
            assert_ne!(status.name(), "UNKNOWN", "{raw} has no name");
        }
    }

    #[test]
    fn ok_maps_only_zero_to_success() {
        assert_eq!(Status::ok(0), Ok(()));
        assert_eq!(Status::ok(-11), Err(Status::BAD_HANDLE));
        assert_eq!(Status::ok(1), Err(Status::from_raw(1)));
    }

    #[test]
    fn display_and_debug_print_name_and_value() {
        assert_eq!(format!("{}", Status::BAD_HANDLE), "ZX_ERR_BAD_HANDLE (-11)");
        assert_eq!(
            format!("{:?}", Status::INTERNAL_INTR_RETRY),
            "ZX_ERR_INTERNAL_INTR_RETRY (-6)"
        );
        assert_eq!(format!("{}", Status::OK), "ZX_OK (0)");
        assert_eq!(format!("{:?}", Status::from_raw(-5)), "UNKNOWN (-5)");
    }
}
