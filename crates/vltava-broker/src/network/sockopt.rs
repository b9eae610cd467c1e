//! Integer socket options tokio does not expose on an accepted stream
//! (TCP_CORK, SO_SNDBUF, SO_RCVBUF), set with `setsockopt` on its
//! descriptor.

use std::io;
use std::os::fd::AsRawFd;

use tokio::net::TcpStream;

pub fn set_int(
    tcp: &TcpStream,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: setsockopt on an open socket (borrowed for the call) with a
    // pointer to a c_int and its size.
    let rc = unsafe {
        libc::setsockopt(
            tcp.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Kafka's `socket.send.buffer.bytes` and `socket.receive.buffer.bytes`
/// on an accepted socket: SO_SNDBUF and SO_RCVBUF, or the OS default (and
/// its automatic tuning) for -1.
pub fn set_buffer_sizes(tcp: &TcpStream, send: i32, receive: i32) -> io::Result<()> {
    if send != -1 {
        set_int(tcp, libc::SOL_SOCKET, libc::SO_SNDBUF, send)?;
    }
    if receive != -1 {
        set_int(tcp, libc::SOL_SOCKET, libc::SO_RCVBUF, receive)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use tokio::net::TcpListener;

    use super::*;

    fn get_int(tcp: &TcpStream, name: libc::c_int) -> libc::c_int {
        let mut value: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt into a c_int with its size, on an open socket.
        let rc = unsafe {
            libc::getsockopt(
                tcp.as_raw_fd(),
                libc::SOL_SOCKET,
                name,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0);
        value
    }

    #[tokio::test]
    async fn buffer_sizes_are_set_unless_minus_one() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        let send_default = get_int(&accepted, libc::SO_SNDBUF);
        set_buffer_sizes(&accepted, -1, 65_536).unwrap();
        assert_eq!(get_int(&accepted, libc::SO_SNDBUF), send_default);
        // Linux doubles what it is given (room for its bookkeeping).
        assert_eq!(get_int(&accepted, libc::SO_RCVBUF), 2 * 65_536);
        set_buffer_sizes(&accepted, 102_400, -1).unwrap();
        assert_eq!(get_int(&accepted, libc::SO_SNDBUF), 2 * 102_400);
        assert_eq!(get_int(&accepted, libc::SO_RCVBUF), 2 * 65_536);
    }
}
