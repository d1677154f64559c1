//! Who made the device run dry: the driver or the system around it.
//!
//! The render loop reports each device write to a [`DeadlineAccount`]: when it woke, whether
//! the device buffer was found empty, and when it handed the frames back (ReleaseBuffer).
//! From those times alone (QPC, nanoseconds) the account sorts the stream's writes:
//! - a **late block**: the driver (its own code and the host's bufferSwitch) held one write
//!   for longer than the whole device buffer lasts, so the device ran dry because of it. No
//!   scheduler hiccup inside a write of microseconds lasts that long on a sane machine;
//! - a **slow write**: held for longer than a period but less than the buffer. Counted, not
//!   blamed: a preempted thread (hypervisor, other load) shows the same;
//! - an underrun after a **late wake-up** (or a slow write): the audio event woke the thread
//!   after the device buffer had drained, or a slowed write let it drain. The scheduler,
//!   the hypervisor or Wine's timer did that; the bench judges it against a control;
//! - an underrun **with the driver on time**: the thread woke in time and its last write was
//!   prompt, yet the device was empty, so the driver handed too few frames. A driver fault.
//!
//! Pure arithmetic on times the caller measured: tested natively, real-time safe.

/// The counters a stream ends with (also in the `stream stopped:` log line).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeadlineCounts {
    /// Writes the driver held for longer than the device buffer lasts.
    pub late_blocks: u64,
    /// Writes held for longer than a period (and less than the buffer).
    pub slow_writes: u64,
    /// Underruns after a wake-up later than the buffer lasts, or after a slow write.
    pub late_wakes: u64,
    /// Underruns with the driver on time: it handed the device too few frames.
    pub driver_underruns: u64,
    /// The longest time from wake-up to ReleaseBuffer, in nanoseconds.
    pub max_handling_ns: u64,
}

impl DeadlineCounts {
    /// Xruns the driver itself caused: late blocks and underruns with the driver on time.
    pub fn driver_faults(&self) -> u64 {
        self.late_blocks + self.driver_underruns
    }
}

/// Accounts a stream's device writes; see the module docs.
#[derive(Clone, Debug)]
pub struct DeadlineAccount {
    period_ns: u64,
    buffer_ns: u64,
    last_release_ns: Option<u64>,
    /// How long the last write was held.
    last_handling_ns: u64,
    counts: DeadlineCounts,
}

impl DeadlineAccount {
    /// `period_ns`: the device period; `buffer_ns`: how long a full device buffer plays.
    pub fn new(period_ns: u64, buffer_ns: u64) -> Self {
        Self {
            period_ns: period_ns.max(1),
            buffer_ns: buffer_ns.max(period_ns),
            last_release_ns: None,
            last_handling_ns: 0,
            counts: DeadlineCounts::default(),
        }
    }

    pub fn counts(&self) -> DeadlineCounts {
        self.counts
    }

    /// One device write: the thread woke at `wake_ns`, found the device empty when
    /// `underrun`, spent `handling_ns` in its own code and the host's callback (not in
    /// WASAPI calls, which under Wine wait on locks its timer thread holds), and released
    /// the frames at `release_ns`.
    pub fn write(&mut self, wake_ns: u64, underrun: bool, handling_ns: u64, release_ns: u64) {
        let handling = handling_ns;
        self.counts.max_handling_ns = self.counts.max_handling_ns.max(handling);
        if underrun {
            // The device plays what was handed at the last release for one buffer at most:
            // empty sooner than that (less half a period of event granularity) means the
            // driver handed too little, unless its last write had been held up.
            let since_release = self
                .last_release_ns
                .map_or(u64::MAX, |last| wake_ns.saturating_sub(last));
            if self.last_handling_ns > self.buffer_ns {
                // Counted already as the late block that caused it.
            } else if self.last_handling_ns > self.period_ns
                || since_release.saturating_add(self.period_ns / 2) >= self.buffer_ns
            {
                self.counts.late_wakes += 1;
            } else {
                self.counts.driver_underruns += 1;
            }
        }
        if handling > self.buffer_ns {
            self.counts.late_blocks += 1;
        } else if handling > self.period_ns {
            self.counts.slow_writes += 1;
        }
        self.last_handling_ns = handling;
        self.last_release_ns = Some(release_ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    /// Shared mode under Wine: 10 ms period, 30 ms buffer, events every 10 ms.
    fn account() -> DeadlineAccount {
        DeadlineAccount::new(10 * MS, 30 * MS)
    }

    #[test]
    fn a_prompt_stream_counts_nothing() {
        let mut a = account();
        for n in 0..1000 {
            a.write(n * 10 * MS, false, 50_000, n * 10 * MS + 50_000);
        }
        let c = a.counts();
        assert_eq!(c.driver_faults() + c.late_wakes, 0);
        assert_eq!(c.max_handling_ns, 50_000);
    }

    #[test]
    fn an_underrun_after_a_late_wake_up_is_not_the_drivers() {
        let mut a = account();
        a.write(0, false, 100_000, 100_000);
        // The scheduler kept the thread asleep for 45 ms: the 30 ms buffer ran dry.
        a.write(
            45 * MS,
            true,
            (45 * MS + 100_000) - (45 * MS),
            45 * MS + 100_000,
        );
        let c = a.counts();
        assert_eq!((c.late_wakes, c.driver_underruns, c.late_blocks), (1, 0, 0));
    }

    #[test]
    fn a_block_held_longer_than_the_buffer_is_a_late_block_and_explains_its_underrun() {
        let mut a = account();
        a.write(0, false, 100_000, 100_000);
        // The driver held this write for 70 ms (longer than the 30 ms buffer) ...
        a.write(10 * MS, false, 70 * MS, 80 * MS);
        // ... so the next event, already signalled, finds the device empty.
        a.write(
            80 * MS + 10_000,
            true,
            (80 * MS + 60_000) - (80 * MS + 10_000),
            80 * MS + 60_000,
        );
        let c = a.counts();
        assert_eq!((c.late_blocks, c.late_wakes, c.driver_underruns), (1, 0, 0));
        assert_eq!(c.driver_faults(), 1);
    }

    #[test]
    fn a_write_slowed_past_a_period_is_counted_but_not_blamed() {
        let mut a = account();
        a.write(0, false, 100_000, 100_000);
        // 18 ms inside one write, as a preempted thread on a loaded machine showed.
        a.write(10 * MS, false, 18 * MS, 28 * MS);
        a.write(
            38 * MS,
            true,
            (38 * MS + 50_000) - (38 * MS),
            38 * MS + 50_000,
        );
        let c = a.counts();
        assert_eq!((c.slow_writes, c.late_wakes, c.driver_faults()), (1, 1, 0));
        assert_eq!(c.max_handling_ns, 18 * MS);
    }

    #[test]
    fn an_empty_device_with_the_driver_on_time_is_a_driver_underrun() {
        let mut a = account();
        a.write(0, false, 100_000, 100_000);
        // Woken 10 ms later, on time, yet the device is empty: too few frames were handed.
        a.write(
            10 * MS,
            true,
            (10 * MS + 100_000) - (10 * MS),
            10 * MS + 100_000,
        );
        let c = a.counts();
        assert_eq!((c.driver_underruns, c.late_wakes), (1, 0));
        assert_eq!(c.driver_faults(), 1);
    }

    #[test]
    fn the_first_write_is_never_blamed_on_the_driver() {
        let mut a = account();
        a.write(0, true, 10_000, 10_000);
        assert_eq!(a.counts().driver_faults(), 0);
    }
}
