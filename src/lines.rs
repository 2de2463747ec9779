//! Reading JSON lines from a stranger: one line at a time, never more than
//! a limit held in memory (the agent reads clients with it, and `ctl` and
//! the control room read hosts with it).

use tokio::io::AsyncBufReadExt;

pub enum LineError {
    TooLong,
    Io,
}

/// Reads one line into `buf`, refusing a line over `limit` bytes before
/// holding more than that.
pub async fn read_line<R: AsyncBufReadExt + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    limit: usize,
) -> Result<usize, LineError> {
    loop {
        let available = reader.fill_buf().await.map_err(|_| LineError::Io)?;
        if available.is_empty() {
            return Ok(buf.len());
        }
        let (chunk, done) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        if buf.len() + chunk.len() > limit {
            return Err(LineError::TooLong);
        }
        buf.extend_from_slice(chunk);
        let used = chunk.len();
        reader.consume(used);
        if done {
            return Ok(buf.len());
        }
    }
}
