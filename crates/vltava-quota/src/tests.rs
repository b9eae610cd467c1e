//! The numbers here are worked out by hand from Kafka's formulas (see the
//! module docs of `rate` and `manager`); each test says how.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::*;

fn name(n: &str) -> Option<EntityName> {
    Some(EntityName::name(n))
}

fn dflt() -> Option<EntityName> {
    Some(EntityName::Default)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const MB: f64 = 1_000_000.0;

// ---- rate -----------------------------------------------------------

#[test]
fn fresh_sensor_is_measured_over_samples_minus_one_windows() {
    let cfg = RateConfig::default();
    let mut r = Rate::new();
    r.record(&cfg, 1000.0, 0);
    // Elapsed 0 ms, no whole window: 10 windows are assumed, 1000 / 10 s.
    assert_eq!(r.window_size_ms(&cfg, 0), 10_000);
    assert_eq!(r.measure(&cfg, 0), 100.0);
    // 2.5 s later still 10 s: 2 whole windows + the 8 missing ones + 500 ms
    // is 10.5 s.
    assert_eq!(r.window_size_ms(&cfg, 2_500), 10_500);
    assert_eq!(r.measure(&cfg, 2_500), 1000.0 / 10.5);
}

#[test]
fn rate_comment_example_from_kafka_with_two_samples() {
    // Kafka's Rate comment: window 1 s, 2 samples, events at T, T+30, T+60.
    let cfg = RateConfig {
        samples: 2,
        window_ms: 1000,
    };
    let mut r = Rate::new();
    r.record(&cfg, 1.0, 0);
    // Not 1 / 0.02 s = 50/s (SimpleRate): one missing window is added.
    assert_eq!(r.measure(&cfg, 20), 1.0 / 1.02);
    r.record(&cfg, 1.0, 30);
    r.record(&cfg, 1.0, 60);
    assert_eq!(r.measure(&cfg, 60), 3.0 / 1.06);
}

#[test]
fn window_boundaries_with_two_samples() {
    let cfg = RateConfig {
        samples: 2,
        window_ms: 1000,
    };
    let mut r = Rate::new();
    r.record(&cfg, 1.0, 0); // sample A starts at 0
    r.record(&cfg, 1.0, 1000); // A is complete: B starts at 1000
    r.record(&cfg, 1.0, 2500); // B complete: A reused, on the grid at 2000
    assert_eq!(r.sample_slots(), 2);
    // Both samples live (ages 500 and 1500 < 2000): 2 over 1.5 s.
    assert_eq!(r.window_size_ms(&cfg, 2500), 1500);
    assert_eq!(r.measure(&cfg, 2500), 2.0 / 1.5);
    // At 3000, B (start 1000) is 2000 old and is cleared: 1 over 1 s.
    assert_eq!(r.total(&cfg, 3000), 1.0);
    assert_eq!(r.window_size_ms(&cfg, 3000), 1000);
    assert_eq!(r.measure(&cfg, 3000), 1.0);
}

#[test]
fn eleven_samples_one_per_second_expire_at_eleven_seconds() {
    let cfg = RateConfig::default();
    let mut r = Rate::new();
    for s in 0..=10 {
        r.record(&cfg, 1000.0, s * 1000);
    }
    assert_eq!(r.sample_slots(), 11);
    // 11 000 over the 10 s since the oldest sample started.
    assert_eq!(r.measure(&cfg, 10_000), 1100.0);
    assert_eq!(r.measure(&cfg, 10_999), 11_000.0 / 10.999);
    // The sample that started at 0 is 11 s old: gone, oldest starts at 1 s.
    assert_eq!(r.total(&cfg, 11_000), 10_000.0);
    assert_eq!(r.measure(&cfg, 11_000), 1000.0);
    // Recording at 11 s reuses the first slot (the ring holds 11).
    r.record(&cfg, 1000.0, 11_000);
    assert_eq!(r.sample_slots(), 11);
    assert_eq!(r.measure(&cfg, 11_000), 1100.0);
}

#[test]
fn sample_after_a_pause_starts_on_the_grid_and_old_ones_are_cleared() {
    let cfg = RateConfig::default();
    let mut r = Rate::new();
    r.record(&cfg, 5.0, 0);
    r.record(&cfg, 1.0, 100_300);
    // The new sample starts at 100 000 (the first sample's grid), the old
    // one is cleared, and the missing windows are assumed: 10.3 s.
    assert_eq!(r.total(&cfg, 100_300), 1.0);
    assert_eq!(r.window_size_ms(&cfg, 100_300), 10_300);
    assert_eq!(r.measure(&cfg, 100_300), 1.0 / 10.3);
    // The 5 recorded at 0 never comes back.
    assert_eq!(r.total(&cfg, 100_900), 1.0);
}

#[test]
fn measuring_an_empty_rate_is_zero() {
    let cfg = RateConfig::default();
    let mut r = Rate::new();
    assert_eq!(r.measure(&cfg, 42), 0.0);
    assert_eq!(r.window_size_ms(&cfg, 42), 10_000);
}

#[test]
fn throttle_formula_rounds_like_java() {
    // (O - T) / T * W
    assert_eq!(throttle_time_ms(2.0 * MB, MB, 10_000), 10_000);
    assert_eq!(throttle_time_ms(1.5 * MB, MB, 10_000), 5_000);
    // 0.25 ms rounds down, 0.5 ms rounds up (Math.round is floor(x + 0.5));
    // powers of two keep the arithmetic exact.
    assert_eq!(throttle_time_ms(1024.25, 1024.0, 1024), 0);
    assert_eq!(throttle_time_ms(1024.5, 1024.0, 1024), 1);
    assert_eq!(throttle_time_ms(1025.5, 1024.0, 1024), 2);
}

// ---- throttling -----------------------------------------------------

fn alice_producer(limit: f64) -> QuotaManager {
    let mut q = QuotaManager::new(QuotaConfig::default());
    q.set(
        &QuotaEntity::client(name("alice"), None),
        "producer_byte_rate",
        Some(limit),
    );
    q
}

#[test]
fn steady_producer_at_twice_its_quota() {
    // 1 MB/s quota, 200 kB every 100 ms (2 MB/s) from t = 0. With quota T
    // = 1e6 B/s the throttle is sum·1000/T − W = sum/1000 − W ms.
    let mut q = alice_producer(MB);
    let mut first = None;
    let mut at = std::collections::BTreeMap::new();
    for i in 0..=209 {
        let t = i * 100;
        let ms = q.record_produce("alice", "p", 200_000, t);
        at.insert(t, ms);
        if ms > 0 && first.is_none() {
            first = Some(t);
        }
    }
    // Until 5 s the 10 s minimum window absorbs it: at 4.9 s 10 MB / 10.9 s.
    assert_eq!(first, Some(5_000));
    assert_eq!(at[&4_900], 0);
    // 5 s: 10.2 MB over 10 s is 1.02 MB/s, 2 % over: 2 % of 10 s.
    assert_eq!(at[&5_000], 200);
    // 5.1 s: 10.4 MB over 10.1 s: 10 400 − 10 100.
    assert_eq!(at[&5_100], 300);
    // Steady state, 20 s: ten whole windows of 2 MB and 200 kB over 10 s is
    // 2.02 MB/s: about one 10 s window of throttle.
    assert_eq!(at[&20_000], 10_200);
    // 20.9 s: 22 MB over 10.9 s: 22 000 − 10 900.
    assert_eq!(at[&20_900], 11_100);
    assert_eq!(
        q.rate(ClientQuotaType::Produce, "alice", "p", 20_900),
        Some(22e6 / 10.9)
    );
}

#[test]
fn throttled_until_and_remaining() {
    let mut q = alice_producer(MB);
    for i in 0..=50 {
        q.record_produce("alice", "p", 200_000, i * 100);
    }
    assert_eq!(
        q.throttled_until_ms(ClientQuotaType::Produce, "alice", "p"),
        Some(5_200)
    );
    assert_eq!(
        q.remaining_throttle_ms(ClientQuotaType::Produce, "alice", "p", 5_100),
        100
    );
    assert_eq!(
        q.remaining_throttle_ms(ClientQuotaType::Produce, "alice", "p", 5_200),
        0
    );
    // Another client of alice shares the user-level sensor, so the mute.
    assert_eq!(
        q.remaining_throttle_ms(ClientQuotaType::Produce, "alice", "other", 5_000),
        200
    );
    // Fetch is a different quota type with no quota.
    assert_eq!(
        q.throttled_until_ms(ClientQuotaType::Fetch, "alice", "p"),
        None
    );
}

#[test]
fn byte_rate_throttle_is_not_capped() {
    let mut q = alice_producer(MB);
    // 30 MB at once: 3 MB/s over 10 s, 2 × 10 s.
    assert_eq!(q.record_produce("alice", "p", 30_000_000, 0), 20_000);
}

#[test]
fn at_the_bound_is_within_quota() {
    let mut q = alice_producer(MB);
    // 10 MB over the fresh 10 s is exactly 1 MB/s.
    assert_eq!(q.record_produce("alice", "p", 10_000_000, 0), 0);
    assert_eq!(
        q.throttled_until_ms(ClientQuotaType::Produce, "alice", "p"),
        None
    );
    // One byte more is over, by 0.1 B/s: 0.001 ms rounds to no throttle.
    assert_eq!(q.record_produce("alice", "p", 1, 0), 0);
    assert_eq!(
        q.throttled_until_ms(ClientQuotaType::Produce, "alice", "p"),
        None
    );
    // 5 kB more: 500.1 B/s over, 5.001 ms rounds to 5.
    assert_eq!(q.record_produce("alice", "p", 5_000, 0), 5);
    assert_eq!(
        q.throttled_until_ms(ClientQuotaType::Produce, "alice", "p"),
        Some(5)
    );
}

#[test]
fn request_percentage_in_thread_time_capped_at_one_window() {
    let mut q = QuotaManager::new(QuotaConfig::default());
    q.set(
        &QuotaEntity::client(None, name("c")),
        "request_percentage",
        Some(50.0),
    );
    // 1 s of thread time is 100 percentage-seconds; five of them over the
    // fresh 10 s window is 50 %: at the bound.
    for _ in 0..5 {
        assert_eq!(q.record_request_time("u", "c", 1_000_000_000, 0), 0);
    }
    // Sixth: 60 %, (60 − 50) / 50 × 10 s = 2 s, capped at one window.
    assert_eq!(q.record_request_time("u", "c", 1_000_000_000, 0), 1_000);
    assert_eq!(q.rate(ClientQuotaType::Request, "u", "c", 0), Some(60.0));
    // Over by less than the cap: 100 ms more is 61 %, 2.2 s, still capped.
    // With a 1 % excess: a fresh client id at 505 pct-s is 50.5 %: 100 ms.
    q.set(
        &QuotaEntity::client(None, name("d")),
        "request_percentage",
        Some(50.0),
    );
    assert_eq!(q.record_request_time("u", "d", 5_050_000_000, 0), 100);
}

#[test]
fn fetch_unrecord_takes_the_bytes_back() {
    let mut q = QuotaManager::new(QuotaConfig::default());
    q.set(
        &QuotaEntity::client(None, dflt()),
        "consumer_byte_rate",
        Some(MB),
    );
    assert_eq!(q.record_fetch("u", "c", 12_000_000, 0), 2_000);
    q.unrecord(ClientQuotaType::Fetch, "u", "c", 12_000_000.0, 0);
    assert_eq!(q.rate(ClientQuotaType::Fetch, "u", "c", 0), Some(0.0));
    assert_eq!(q.record_fetch("u", "c", 10_000_000, 0), 0);
    // Kafka bounds a fetch by the quota over samples − 1 windows.
    assert_eq!(
        q.max_value_in_quota_window(ClientQuotaType::Fetch, "u", "c"),
        10.0 * MB
    );
    assert_eq!(
        q.max_value_in_quota_window(ClientQuotaType::Produce, "u", "c"),
        f64::MAX
    );
}

#[test]
fn quota_removed_is_unlimited_but_still_measured() {
    let mut q = alice_producer(MB);
    assert_eq!(q.record_produce("alice", "p", 20_000_000, 0), 10_000);
    q.set(
        &QuotaEntity::client(name("alice"), None),
        "producer_byte_rate",
        None,
    );
    assert_eq!(q.quota(ClientQuotaType::Produce, "alice", "p").limit, None);
    assert_eq!(q.record_produce("alice", "p", 1_000_000_000, 0), 0);
    // Kafka keeps measuring once a quota of the type was ever set; the
    // usage now counts per client id.
    assert!(q.quotas_enabled(ClientQuotaType::Produce));
    assert_eq!(
        q.sensor_tags(ClientQuotaType::Produce),
        vec![MetricTags::new("", "p"), MetricTags::new("alice", "")]
    );
    assert!(q.store().entities().next().is_none());
}

#[test]
fn quota_lowered_applies_to_the_existing_history() {
    let mut q = alice_producer(10.0 * MB);
    assert_eq!(q.record_produce("alice", "p", 20_000_000, 0), 0);
    q.set(
        &QuotaEntity::client(name("alice"), None),
        "producer_byte_rate",
        Some(MB),
    );
    // 20 MB + 1 B over 10 s against 1 MB/s.
    assert_eq!(q.record_produce("alice", "p", 1, 0), 10_000);
}

#[test]
fn nothing_measured_before_any_quota_of_the_type() {
    let mut q = QuotaManager::new(QuotaConfig::default());
    assert_eq!(q.record_produce("u", "c", u64::MAX / 2, 0), 0);
    assert_eq!(q.sensor_count(), 0);
    // An IP quota does not turn on the client quotas.
    q.set(
        &QuotaEntity::ip(EntityName::Default),
        "connection_creation_rate",
        Some(5.0),
    );
    assert_eq!(q.record_produce("u", "c", 1, 0), 0);
    assert_eq!(q.sensor_count(), 0);
    // A consumer quota turns on fetch only.
    q.set(
        &QuotaEntity::client(name("x"), None),
        "consumer_byte_rate",
        Some(1.0),
    );
    assert!(q.quotas_enabled(ClientQuotaType::Fetch));
    assert!(!q.quotas_enabled(ClientQuotaType::Produce));
}

// ---- precedence -----------------------------------------------------

fn all_levels() -> Vec<(QuotaLevel, QuotaEntity)> {
    QuotaLevel::ALL
        .into_iter()
        .map(|l| (l, l.entity("alice", "app")))
        .collect()
}

#[test]
fn precedence_table_every_level_and_its_tags() {
    let mut store = QuotaStore::new();
    for (i, (_, e)) in all_levels().iter().enumerate() {
        store.set(e, "producer_byte_rate", Some((i + 1) as f64));
    }
    let expected_tags = [
        ("alice", "app"), // /users/alice/clients/app
        ("alice", "app"), // /users/alice/clients/<default>
        ("alice", ""),    // /users/alice
        ("alice", "app"), // /users/<default>/clients/app
        ("alice", "app"), // /users/<default>/clients/<default>
        ("alice", ""),    // /users/<default>
        ("", "app"),      // /clients/app
        ("", "app"),      // /clients/<default>
    ];
    // Remove the levels one by one from the most specific: each time the
    // next one applies.
    for (i, (level, e)) in all_levels().iter().enumerate() {
        let r = store.resolve(QuotaKey::ProducerByteRate, "alice", "app");
        assert_eq!(r.level, Some(*level), "level {}", i + 1);
        assert_eq!(r.limit, Some((i + 1) as f64));
        let (u, c) = expected_tags[i];
        assert_eq!(r.tags, MetricTags::new(u, c), "tags at level {}", i + 1);
        // Another key is independent.
        assert_eq!(
            store
                .resolve(QuotaKey::ConsumerByteRate, "alice", "app")
                .limit,
            None
        );
        store.set(e, "producer_byte_rate", None);
    }
    let r = store.resolve(QuotaKey::ProducerByteRate, "alice", "app");
    assert_eq!(r.limit, None);
    assert_eq!(r.level, None);
    assert_eq!(r.tags, MetricTags::new("", "app"));
}

#[test]
fn level_entities_are_the_kip_55_paths() {
    let e = |l: QuotaLevel| l.entity("u", "c");
    assert_eq!(
        e(QuotaLevel::UserClient),
        QuotaEntity::client(name("u"), name("c"))
    );
    assert_eq!(
        e(QuotaLevel::UserDefaultClient),
        QuotaEntity::client(name("u"), dflt())
    );
    assert_eq!(e(QuotaLevel::User), QuotaEntity::client(name("u"), None));
    assert_eq!(
        e(QuotaLevel::DefaultUserClient),
        QuotaEntity::client(dflt(), name("c"))
    );
    assert_eq!(
        e(QuotaLevel::DefaultUserDefaultClient),
        QuotaEntity::client(dflt(), dflt())
    );
    assert_eq!(
        e(QuotaLevel::DefaultUser),
        QuotaEntity::client(dflt(), None)
    );
    assert_eq!(e(QuotaLevel::Client), QuotaEntity::client(None, name("c")));
    assert_eq!(
        e(QuotaLevel::DefaultClient),
        QuotaEntity::client(None, dflt())
    );
}

#[test]
fn user_quota_is_shared_by_the_users_clients_only() {
    let mut q = alice_producer(MB);
    // 6 MB from each of two client ids of alice: one sensor, 12 MB / 10 s.
    assert_eq!(q.record_produce("alice", "a", 6_000_000, 0), 0);
    assert_eq!(q.record_produce("alice", "b", 6_000_000, 0), 2_000);
    // bob has no quota.
    assert_eq!(q.record_produce("bob", "a", 60_000_000, 0), 0);
    assert_eq!(
        q.sensor_tags(ClientQuotaType::Produce),
        vec![MetricTags::new("", "a"), MetricTags::new("alice", "")]
    );
}

#[test]
fn default_user_and_client_quota_is_per_pair() {
    let mut q = QuotaManager::new(QuotaConfig::default());
    q.set(
        &QuotaEntity::client(dflt(), dflt()),
        "producer_byte_rate",
        Some(MB),
    );
    assert_eq!(q.record_produce("alice", "a", 6_000_000, 0), 0);
    assert_eq!(q.record_produce("alice", "b", 6_000_000, 0), 0);
    assert_eq!(q.record_produce("alice", "a", 6_000_000, 0), 2_000);
}

#[test]
fn client_id_quota_is_shared_by_every_user() {
    let mut q = QuotaManager::new(QuotaConfig::default());
    q.set(
        &QuotaEntity::client(None, name("app")),
        "producer_byte_rate",
        Some(MB),
    );
    assert_eq!(q.record_produce("alice", "app", 6_000_000, 0), 0);
    assert_eq!(q.record_produce("bob", "app", 6_000_000, 0), 2_000);
    assert_eq!(q.record_produce("bob", "other", 60_000_000, 0), 0);
}

// ---- expiry ---------------------------------------------------------

#[test]
fn idle_sensors_expire_after_an_hour() {
    let mut q = QuotaManager::new(QuotaConfig::default());
    q.set(
        &QuotaEntity::client(None, dflt()),
        "producer_byte_rate",
        Some(MB),
    );
    q.record_produce("u", "a", 1, 0);
    q.record_produce("u", "b", 1, 1_000);
    assert_eq!(q.sensor_count(), 2);
    // Exactly an hour idle is not expired (Kafka: more than).
    assert_eq!(q.expire(3_600_000), 0);
    assert_eq!(q.expire(3_600_001), 1);
    assert_eq!(
        q.sensor_tags(ClientQuotaType::Produce),
        vec![MetricTags::new("", "b")]
    );
    assert_eq!(q.expire(3_601_001), 1);
    assert_eq!(q.sensor_count(), 0);
}

#[test]
fn many_client_ids_stay_bounded() {
    let mut q = QuotaManager::new(QuotaConfig::default());
    q.set(
        &QuotaEntity::client(None, dflt()),
        "producer_byte_rate",
        Some(MB),
    );
    for i in 0..5_000 {
        q.record_produce("u", &format!("client-{i}"), 100, i);
    }
    assert_eq!(q.sensor_count(), 5_000);
    q.record_produce("u", "late", 100, 3_000_000);
    assert_eq!(q.expire(3_600_000 + 5_000), 5_000);
    assert_eq!(q.sensor_count(), 1);
}

#[test]
fn an_expired_sensor_starts_fresh() {
    let mut q = alice_producer(MB);
    assert_eq!(q.record_produce("alice", "p", 20_000_000, 0), 10_000);
    q.expire(3_600_001);
    assert_eq!(q.sensor_count(), 0);
    assert_eq!(q.record_produce("alice", "p", 10_000_000, 3_600_001), 0);
}

// ---- connection creation rate ---------------------------------------

#[test]
fn ip_connection_rate_default_and_override() {
    let mut q = QuotaManager::new(QuotaConfig::default());
    assert_eq!(
        q.record_connection(ip("10.0.0.9"), 0),
        ConnectionDecision::Accept
    );
    assert_eq!(q.sensor_count(), 0);
    q.set(
        &QuotaEntity::ip(EntityName::Default),
        "connection_creation_rate",
        Some(2.0),
    );
    q.set(
        &QuotaEntity::ip(EntityName::name("10.0.0.1")),
        "connection_creation_rate",
        Some(5.0),
    );
    // Default 2/s: 20 in a fresh 10 s window is at the bound.
    for _ in 0..20 {
        assert_eq!(
            q.record_connection(ip("10.0.0.2"), 0),
            ConnectionDecision::Accept
        );
    }
    // 21st: 2.1/s, (2.1 − 2) / 2 × 10 s = 500 ms, and it is not counted, so
    // the next one is throttled the same.
    let t = ConnectionDecision::Throttle { throttle_ms: 500 };
    assert_eq!(q.record_connection(ip("10.0.0.2"), 0), t);
    assert_eq!(q.record_connection(ip("10.0.0.2"), 0), t);
    // The override: 50 fit, the 51st is 5.1/s: 200 ms.
    for _ in 0..50 {
        assert_eq!(
            q.record_connection(ip("10.0.0.1"), 0),
            ConnectionDecision::Accept
        );
    }
    assert_eq!(
        q.record_connection(ip("10.0.0.1"), 0),
        ConnectionDecision::Throttle { throttle_ms: 200 }
    );
}

#[test]
fn ip_quota_found_by_address_and_capped_at_a_window() {
    let mut q = QuotaManager::new(QuotaConfig::default());
    q.set(
        &QuotaEntity::ip(EntityName::name("::1")),
        "connection_creation_rate",
        Some(0.5),
    );
    // 0.5 is kept as the int 0: Kafka keeps IP quotas as ints. One
    // connection is 0.1/s over 0: infinitely over, capped at 1 s.
    assert_eq!(
        q.record_connection(ip("0:0::1"), 0),
        ConnectionDecision::Throttle { throttle_ms: 1_000 }
    );
    q.set(
        &QuotaEntity::ip(EntityName::name("::1")),
        "connection_creation_rate",
        None,
    );
    assert_eq!(
        q.record_connection(ip("::1"), 0),
        ConnectionDecision::Accept
    );
}

// ---- AlterClientQuotas validation -----------------------------------

fn err(code: i16, message: &str) -> QuotaError {
    QuotaError {
        code,
        message: message.to_string(),
    }
}

fn invalid(message: &str) -> QuotaError {
    err(INVALID_REQUEST, message)
}

#[test]
fn entity_validation() {
    assert_eq!(
        validate_entity(&[]),
        Err(invalid("Invalid empty client quota entity"))
    );
    assert_eq!(
        validate_entity(&[("group", Some("g"))]),
        Err(invalid("Unhandled client quota entity type: group"))
    );
    assert_eq!(
        validate_entity(&[("user", Some("a")), ("user", None)]),
        Err(invalid(
            "Invalid client quota entity, duplicate entity entry user"
        ))
    );
    assert_eq!(
        validate_entity(&[("client-id", Some(""))]),
        Err(invalid("Empty client-id not supported"))
    );
    assert_eq!(
        validate_entity(&[("ip", Some("10.0.0.1")), ("user", Some("a"))]),
        Err(invalid(
            "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId"
        ))
    );
    assert_eq!(
        validate_entity(&[("ip", Some("not-an-ip"))]),
        Err(invalid("not-an-ip is not a valid IP or resolvable host."))
    );
    assert_eq!(
        validate_entity(&[("ip", Some("300.1.1.1"))]),
        Err(invalid("300.1.1.1 is not a valid IP or resolvable host."))
    );
    assert_eq!(
        validate_entity(&[("ip", None)]),
        Ok(QuotaEntity::ip(EntityName::Default))
    );
    assert!(validate_entity(&[("ip", Some("::1"))]).is_ok());
    assert!(validate_entity(&[("ip", Some("[::1]"))]).is_ok());
    assert!(validate_entity(&[("ip", Some("[1.2.3.4]"))]).is_err());
    assert_eq!(
        validate_entity(&[("client-id", Some("c")), ("user", None)]),
        Ok(QuotaEntity::client(dflt(), name("c")))
    );
}

#[test]
fn key_and_value_validation() {
    let store = QuotaStore::new();
    let user = [("user", Some("alice"))];
    let ipe = [("ip", Some("10.0.0.1"))];
    assert_eq!(
        validate_alteration(&store, &user, &[QuotaOp::set("producer_byte_rates", 1.0)]),
        Err(invalid("Invalid configuration key producer_byte_rates"))
    );
    assert_eq!(
        validate_alteration(
            &store,
            &user,
            &[QuotaOp::set("connection_creation_rate", 1.0)]
        ),
        Err(invalid(
            "Invalid configuration key connection_creation_rate"
        ))
    );
    assert_eq!(
        validate_alteration(&store, &ipe, &[QuotaOp::set("producer_byte_rate", 1.0)]),
        Err(invalid("Invalid configuration key producer_byte_rate"))
    );
    assert_eq!(
        validate_alteration(&store, &user, &[QuotaOp::set("producer_byte_rate", 1.5)]),
        Err(invalid("producer_byte_rate cannot be a fractional value."))
    );
    assert_eq!(
        validate_alteration(
            &store,
            &ipe,
            &[QuotaOp::set("connection_creation_rate", 2.5)]
        ),
        Err(invalid(
            "connection_creation_rate cannot be a fractional value."
        ))
    );
    // One bad op refuses the whole entity.
    assert!(validate_alteration(
        &store,
        &user,
        &[
            QuotaOp::set("consumer_byte_rate", 1.0),
            QuotaOp::set("nope", 1.0)
        ]
    )
    .is_err());
    // Within 1e-6 of an integer is integral; doubles may be fractional.
    assert!(validate_alteration(
        &store,
        &user,
        &[QuotaOp::set("producer_byte_rate", 1.0000001)]
    )
    .is_ok());
    assert!(
        validate_alteration(&store, &user, &[QuotaOp::set("request_percentage", 12.5)]).is_ok()
    );
    assert!(validate_alteration(
        &store,
        &user,
        &[QuotaOp::set("controller_mutation_rate", 0.5)]
    )
    .is_ok());
    // Kafka 4's controller: zero and negative values are refused for
    // every key; integral keys have their type's range.
    for (key, entity) in [
        ("producer_byte_rate", &user),
        ("request_percentage", &user),
        ("controller_mutation_rate", &user),
        ("connection_creation_rate", &ipe),
    ] {
        for value in [0.0, -1.0] {
            assert_eq!(
                validate_alteration(&store, entity, &[QuotaOp::set(key, value)]),
                Err(invalid(&format!("Quota {key} must be greater than 0"))),
                "{key}={value}"
            );
        }
    }
    assert_eq!(
        validate_alteration(
            &store,
            &ipe,
            &[QuotaOp::set("connection_creation_rate", 3e9)]
        ),
        Err(invalid(
            "Proposed value for connection_creation_rate is too large for an INT."
        ))
    );
    assert_eq!(
        validate_alteration(&store, &user, &[QuotaOp::set("consumer_byte_rate", 1e19)]),
        Err(invalid(
            "Proposed value for consumer_byte_rate is too large for a LONG."
        ))
    );
    assert!(
        validate_alteration(&store, &user, &[QuotaOp::set("producer_byte_rate", 1e18)]).is_ok()
    );
    // Removing an unknown key is not checked.
    assert_eq!(
        validate_alteration(&store, &user, &[QuotaOp::remove("nope")]),
        Ok(vec![])
    );
    // The entity is checked before the keys.
    assert_eq!(
        validate_alteration(&store, &[("user", Some(""))], &[QuotaOp::set("nope", 1.0)]),
        Err(invalid("Empty user not supported"))
    );
}

#[test]
fn alteration_writes_only_changes() {
    let mut store = QuotaStore::new();
    let alice = QuotaEntity::client(name("alice"), None);
    store.set(&alice, "producer_byte_rate", Some(100.0));
    let user = [("user", Some("alice"))];
    let changes = validate_alteration(
        &store,
        &user,
        &[
            QuotaOp::set("producer_byte_rate", 100.0), // unchanged
            QuotaOp::set("consumer_byte_rate", 200.0), // new
            QuotaOp::remove("request_percentage"),     // absent
        ],
    )
    .unwrap();
    assert_eq!(
        changes,
        vec![QuotaChange {
            entity: alice.clone(),
            key: "consumer_byte_rate".into(),
            value: Some(200.0)
        }]
    );
    let changes =
        validate_alteration(&store, &user, &[QuotaOp::remove("producer_byte_rate")]).unwrap();
    assert_eq!(
        changes,
        vec![QuotaChange {
            entity: alice,
            key: "producer_byte_rate".into(),
            value: None
        }]
    );
}

#[test]
fn duplicate_key_is_answered_as_a_duplicate_entity() {
    let store = QuotaStore::new();
    assert_eq!(
        validate_alteration(
            &store,
            &[("user", Some("alice")), ("client-id", None)],
            &[
                QuotaOp::set("producer_byte_rate", 1.0),
                QuotaOp::remove("producer_byte_rate")
            ]
        ),
        Err(invalid(
            "Ignoring duplicate entity ClientQuotaEntity(entries={user=alice, client-id=null})"
        ))
    );
}

// ---- DescribeClientQuotas -------------------------------------------

fn describe_store() -> (QuotaStore, Vec<QuotaEntity>) {
    let entities = vec![
        QuotaEntity::client(name("alice"), None),        // 0
        QuotaEntity::client(name("alice"), name("app")), // 1
        QuotaEntity::client(dflt(), None),               // 2
        QuotaEntity::client(None, name("app")),          // 3
        QuotaEntity::client(None, dflt()),               // 4
        QuotaEntity::client(dflt(), dflt()),             // 5
        QuotaEntity::ip(EntityName::Default),            // 6
        QuotaEntity::ip(EntityName::name("10.0.0.1")),   // 7
    ];
    let mut store = QuotaStore::new();
    for (i, e) in entities.iter().enumerate() {
        let key = if e.ip.is_some() {
            "connection_creation_rate"
        } else {
            "producer_byte_rate"
        };
        store.set(e, key, Some(i as f64));
    }
    (store, entities)
}

fn found(store: &QuotaStore, filter: &[FilterComponent], strict: bool) -> BTreeSet<QuotaEntity> {
    describe(store, filter, strict)
        .unwrap()
        .into_iter()
        .map(|(e, _)| e)
        .collect()
}

fn pick(all: &[QuotaEntity], idx: &[usize]) -> BTreeSet<QuotaEntity> {
    idx.iter().map(|&i| all[i].clone()).collect()
}

#[test]
fn describe_filters() {
    let (s, all) = describe_store();
    use FilterComponent as F;
    assert_eq!(
        found(&s, &[F::exact(USER, "alice")], false),
        pick(&all, &[0, 1])
    );
    assert_eq!(
        found(&s, &[F::exact(USER, "alice")], true),
        pick(&all, &[0])
    );
    assert_eq!(
        found(&s, &[F::default_of(USER)], false),
        pick(&all, &[2, 5])
    );
    assert_eq!(found(&s, &[F::default_of(USER)], true), pick(&all, &[2]));
    // SPECIFIED matches any name of the type, the default included.
    assert_eq!(
        found(&s, &[F::specified(USER)], false),
        pick(&all, &[0, 1, 2, 5])
    );
    assert_eq!(found(&s, &[F::specified(USER)], true), pick(&all, &[0, 2]));
    assert_eq!(
        found(&s, &[F::specified(CLIENT_ID)], true),
        pick(&all, &[3, 4])
    );
    assert_eq!(
        found(
            &s,
            &[F::exact(USER, "alice"), F::specified(CLIENT_ID)],
            true
        ),
        pick(&all, &[1])
    );
    assert_eq!(
        found(&s, &[F::default_of(USER), F::default_of(CLIENT_ID)], false),
        pick(&all, &[5])
    );
    assert_eq!(found(&s, &[F::exact(USER, "bob")], false), pick(&all, &[]));
    assert_eq!(found(&s, &[F::specified(IP)], false), pick(&all, &[6, 7]));
    assert_eq!(
        found(&s, &[F::exact(IP, "10.0.0.1")], true),
        pick(&all, &[7])
    );
    // No component: everything, or nothing when strict.
    assert_eq!(found(&s, &[], false), pick(&all, &[0, 1, 2, 3, 4, 5, 6, 7]));
    assert_eq!(found(&s, &[], true), pick(&all, &[]));
    // The values come along.
    let r = describe(&s, &[F::exact(IP, "10.0.0.1")], false).unwrap();
    assert_eq!(r[0].1.get("connection_creation_rate"), Some(&7.0));
}

#[test]
fn describe_filter_errors() {
    let (s, _) = describe_store();
    use FilterComponent as F;
    let e = |f: &[FilterComponent]| describe(&s, f, false).unwrap_err();
    assert_eq!(
        e(&[F::specified(IP), F::exact(USER, "a")]),
        invalid("Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component.")
    );
    assert_eq!(
        e(&[F::specified(USER), F::default_of(USER)]),
        invalid("Entity type user cannot appear more than once in the filter.")
    );
    assert_eq!(
        e(&[F::specified("group")]),
        err(UNSUPPORTED_VERSION, "Unsupported entity type group")
    );
    assert_eq!(
        e(&[F::specified("")]),
        invalid("Invalid empty entity type.")
    );
    let mut bad = F::specified(USER);
    bad.match_type = 3;
    assert_eq!(e(&[bad]), invalid("Unknown match type 3"));
    let mut exact_null = F::exact(USER, "a");
    exact_null.name = None;
    assert_eq!(
        e(&[exact_null]),
        invalid("Request specified MATCH_TYPE_EXACT, but set match string to null.")
    );
    let mut default_named = F::default_of(USER);
    default_named.name = Some("a".into());
    assert_eq!(
        e(&[default_named]),
        invalid("Request specified MATCH_TYPE_DEFAULT, but also specified a match string.")
    );
    let mut specified_named = F::specified(USER);
    specified_named.name = Some("a".into());
    assert_eq!(
        e(&[specified_named]),
        invalid("Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.")
    );
}

#[test]
fn key_names_round_trip() {
    for k in QuotaKey::ALL {
        assert_eq!(QuotaKey::from_name(k.name()), Some(k));
    }
    assert_eq!(QuotaKey::from_name("producer_byte_rates"), None);
    assert_eq!(
        QuotaEntity::client(name("u"), dflt()).to_string(),
        "ClientQuotaEntity(entries={user=u, client-id=null})"
    );
}

#[test]
fn a_more_specific_quota_moves_the_usage_to_a_new_sensor() {
    let mut q = QuotaManager::new(QuotaConfig::default());
    q.set(
        &QuotaEntity::client(None, name("app")),
        "producer_byte_rate",
        Some(MB),
    );
    assert_eq!(q.record_produce("alice", "app", 9_000_000, 0), 0);
    // A /users/alice quota now applies: alice's usage is counted under
    // (alice, "") from zero; the client-id sensor keeps its history.
    q.set(
        &QuotaEntity::client(name("alice"), None),
        "producer_byte_rate",
        Some(MB),
    );
    assert_eq!(q.record_produce("alice", "app", 9_000_000, 0), 0);
    assert_eq!(q.record_produce("bob", "app", 2_000_000, 0), 1_000);
}

#[test]
fn replacing_the_store_applies_new_limits_and_keeps_history() {
    let mut q = QuotaManager::new(QuotaConfig::default());
    // Nothing configured: nothing measured, nothing throttled.
    assert_eq!(q.record_produce("alice", "app", 50_000_000, 0), 0);
    let mut store = QuotaStore::new();
    store.set(
        &QuotaEntity::client(name("alice"), None),
        "producer_byte_rate",
        Some(MB),
    );
    q.replace_store(store.clone());
    assert!(q.quotas_enabled(ClientQuotaType::Produce));
    assert!(!q.quotas_enabled(ClientQuotaType::Fetch));
    assert_eq!(q.record_produce("alice", "app", 9_000_000, 0), 0);
    assert!(q.record_produce("alice", "app", 2_000_000, 0) > 0);
    // The limit raised: the same sensor, its history kept, now within it.
    store.set(
        &QuotaEntity::client(name("alice"), None),
        "producer_byte_rate",
        Some(100.0 * MB),
    );
    q.replace_store(store.clone());
    assert_eq!(q.record_produce("alice", "app", 1_000, 0), 0);
    // Removed: no quota applies; the type stays measured, as in Kafka.
    q.replace_store(QuotaStore::new());
    assert!(q.quotas_enabled(ClientQuotaType::Produce));
    assert_eq!(q.record_produce("alice", "app", 500_000_000, 0), 0);
}

#[test]
fn the_mutation_quota_lets_a_burst_through_then_refuses_until_credits_return() {
    // 2 partitions a second over 2 samples of 1 s: a burst of 4.
    let config = QuotaConfig {
        rate: RateConfig {
            samples: 2,
            window_ms: 1000,
        },
        ..QuotaConfig::default()
    };
    let mut q = QuotaManager::new(config);
    // No quota: never refused.
    assert_eq!(q.record_mutations_strict("alice", "app", 1000.0, 0), Ok(()));
    q.set(
        &QuotaEntity::client(name("alice"), None),
        "controller_mutation_rate",
        Some(2.0),
    );
    // 3 of the 4 credits, then 3 more: allowed though it overdraws (-2).
    assert_eq!(q.record_mutations_strict("alice", "app", 3.0, 0), Ok(()));
    assert_eq!(q.mutation_throttle_ms("alice", "app", 0), 0);
    assert_eq!(q.record_mutations_strict("alice", "app", 3.0, 0), Ok(()));
    // -2 credits at 2 a second: a second to wait, and refused meanwhile.
    assert_eq!(q.mutation_throttle_ms("alice", "app", 0), 1000);
    assert_eq!(
        q.record_mutations_strict("alice", "app", 1.0, 500),
        Err(MutationThrottled { throttle_ms: 500 })
    );
    // Another user has no quota; the same user with another client id
    // shares alice's credits (the quota names the user only).
    assert_eq!(q.record_mutations_strict("bob", "app", 50.0, 500), Ok(()));
    assert!(q
        .record_mutations_strict("alice", "other", 1.0, 500)
        .is_err());
    // Back at zero after a second: allowed again.
    assert_eq!(q.record_mutations_strict("alice", "app", 1.0, 1000), Ok(()));
    // Refill stops at the burst.
    assert_eq!(q.mutation_throttle_ms("alice", "app", 60_000), 0);
    assert_eq!(
        q.record_mutations_strict("alice", "app", 4.0, 60_000),
        Ok(())
    );
    assert_eq!(
        q.record_mutations_strict("alice", "app", 0.0, 60_000),
        Ok(())
    );
    q.record_mutations("alice", "app", 1.0, 60_000);
    assert_eq!(q.mutation_throttle_ms("alice", "app", 60_000), 500);
    // Idle buckets expire with the sensors.
    assert!(q.expire(60_000 + INACTIVE_SENSOR_EXPIRATION_MS + 1) >= 1);
}

#[test]
fn token_bucket_follows_kafkas_arithmetic() {
    let config = RateConfig {
        samples: 11,
        window_ms: 1000,
    };
    // Burst: 11 samples × 1 s × 10 a second = 110.
    let mut b = TokenBucket::new(10.0, &config, 0);
    assert_eq!(b.credits(10.0, &config, 0), 110.0);
    b.record(115.0, 10.0, &config, 0);
    assert_eq!(b.credits(10.0, &config, 0), -5.0);
    assert_eq!(b.throttle_ms(10.0, &config, 0), 500);
    assert_eq!(b.credits(10.0, &config, 250), -2.5);
    assert_eq!(b.throttle_ms(10.0, &config, 250), 250);
    assert_eq!(b.credits(10.0, &config, 100_000), 110.0);
}
