//! A process confined to what a Lambda function of a given memory size gets, for the
//! benches: a cgroup whose CPU quota is `memory / 1,769` of one CPU (Lambda gives a
//! function the equivalent of one vCPU at 1,769 MB, in proportion below that) and whose
//! memory limit is the function's memory.
//!
//! Creating a cgroup needs root and a writable cgroup file system (v1 `cpu` and
//! `memory` controllers, or v2 with `cpu` enabled); where there is none,
//! [`LambdaShare::create`] says why and the bench prints that instead of a figure.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Memory at which Lambda gives a function one full vCPU.
pub const MB_PER_VCPU: u32 = 1_769;
const PERIOD_US: u64 = 100_000;

/// A cgroup (one directory per controller) that [`LambdaShare::command`] starts a
/// process in; removed on drop, once its processes have ended.
pub struct LambdaShare {
    dirs: Vec<PathBuf>,
    /// The function memory it stands for, in MB.
    pub memory_mb: u32,
}

impl LambdaShare {
    /// The share of a function with `memory_mb` of memory, as the cgroup `name`.
    pub fn create(name: &str, memory_mb: u32) -> Result<Self, String> {
        let quota = PERIOD_US * u64::from(memory_mb) / u64::from(MB_PER_VCPU);
        let memory = u64::from(memory_mb) << 20;
        let root = Path::new("/sys/fs/cgroup");
        let mut share = LambdaShare {
            dirs: Vec::new(),
            memory_mb,
        };
        if root.join("cgroup.controllers").is_file() {
            let dir = root.join(name);
            share.make(&dir)?;
            // Best effort: the controllers may be enabled already, or not ours to enable.
            let _ = std::fs::write(root.join("cgroup.subtree_control"), "+cpu +memory");
            write(&dir.join("cpu.max"), &format!("{quota} {PERIOD_US}"))?;
            write(&dir.join("memory.max"), &memory.to_string())?;
        } else if root.join("cpu").is_dir() {
            let cpu = root.join("cpu").join(name);
            share.make(&cpu)?;
            write(&cpu.join("cpu.cfs_period_us"), &PERIOD_US.to_string())?;
            write(&cpu.join("cpu.cfs_quota_us"), &quota.to_string())?;
            let mem = root.join("memory").join(name);
            share.make(&mem)?;
            write(&mem.join("memory.limit_in_bytes"), &memory.to_string())?;
        } else {
            return Err("no cgroup file system at /sys/fs/cgroup".into());
        }
        Ok(share)
    }

    fn make(&mut self, dir: &Path) -> Result<(), String> {
        match std::fs::create_dir(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("cannot create cgroup {}: {e}", dir.display())),
        }
        self.dirs.push(dir.to_owned());
        Ok(())
    }

    /// The CPU share, as a fraction of one CPU.
    pub fn cpus(&self) -> f64 {
        f64::from(self.memory_mb) / f64::from(MB_PER_VCPU)
    }

    /// A command that runs `program` inside the share: a shell moves itself into the
    /// cgroup, then becomes the program, so nothing of it runs outside.
    pub fn command(&self, program: &Path) -> Command {
        let procs: Vec<String> = self
            .dirs
            .iter()
            .map(|d| d.join("cgroup.procs").display().to_string())
            .collect();
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(format!(
                "for p in {}; do echo $$ > \"$p\" || exit 97; done; exec \"$0\" \"$@\"",
                procs.join(" ")
            ))
            .arg(program);
        c
    }
}

impl Drop for LambdaShare {
    fn drop(&mut self) {
        for d in &self.dirs {
            let _ = std::fs::remove_dir(d);
        }
    }
}

fn write(path: &Path, value: &str) -> Result<(), String> {
    std::fs::write(path, value).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// CPU time (user + system) this process has used, from `/proc/self/stat`, in seconds
/// (clock ticks of 10 ms).
pub fn own_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}
