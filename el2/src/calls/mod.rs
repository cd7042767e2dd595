//! The service calls, grouped by the objects they act on. Each checks its
//! arguments in the order docs/abi.md and Zircon give, then does the work.

pub mod guest;
pub mod port;
pub mod vcpu;
