//! The Exotel PIN flow over HTTP, with the seeds' requests.

use serde_json::Value;

use crate::common::{CUSTOMER_E164, Call, EXOTEL_SECRET, spawn_app, spawn_app_with};
use crate::helpers::{a_minute_ago_ms, encode_seed};

/// The seed's Connect request of the PIN flow, verbatim (seed 003, "Pin based Number").
const SEED_PIN_CONNECT: &str = "CallFrom=07709562799&CallSid=c39894edd8a85d7fd95dbf5fdb65157g&CallTo=07314853246&CallType=call-attempt&Created=Fri, 16 Jul 2021 18:24:05&CurrentTime=2021-07-16 18:24:12&DialCallDuration=0&DialCallStatus=null&DialWhomNumber=&Direction=incoming&EndTime=1970-01-01 05:30:00&ForwardedFrom=null&From=07709562799&ProcessStatus=null&RecordingUrl=null&StartTime=2021-07-16 18:24:05&To=07314853246&digits=\"568\"&flow_id=383431&tenant_id=53926";

/// The seed's completed-call Passthru, verbatim but for its CallSid, which is the PIN call's.
const SEED_COMPLETED: &str = "CallFrom=077095627xx&CallSid=c39894edd8a85d7fd95dbf5fdb65157g&CallTo=07314853246&CallType=completed&Created=Wed, 14 Jul 2021 15:40:07&CurrentTime=2021-07-14 15:40:55&DialCallDuration=40&DialCallStatus=completed&DialWhomNumber=0799567xxxx&Direction=incoming&EndTime=1970-01-01 05:30:00&ForwardedFrom=null&From=077095627xx&Legs[0][Number]=07995679243&Legs[0][Type]=single&Legs[0][OnCallDuration]=31&Legs[0][CauseCode]=NORMAL_CLEARING&Legs[0][Cause]=16&OutgoingPhoneNumber=07314853246&ProcessStatus=null&RecordingAvailableBy=Wed, 14 Jul 2021 15:45:55&RecordingUrl=https://s3-ap-southeast-1.amazonaws.com/exotelrecordings/skillstreet/3edd4e59486d063b46403496xxx3e157e.mp3&StartTime=2021-07-14 15:40:07&To=07314853246&flow_id=383431&tenant_id=53926";

/// The seed's incomplete-call Passthru, verbatim: masked numbers, the caller hung up.
const SEED_INCOMPLETE: &str = "CallFrom=077095xxxx&CallSid=0e50bc001da69c238b55b56a0a1c157e&CallTo=07314853246&CallType=client-hangup&Created=Wed, 14 Jul 2021 15:36:22&CurrentTime=2021-07-14 15:36:43&DialCallDuration=0&DialCallStatus=canceled&DialWhomNumber=07995679243&Direction=incoming&EndTime=1970-01-01 05:30:00&ForwardedFrom=null&From=0770956xx&Legs[0][Number]=07995679xx&Legs[0][Type]=single&Legs[0][OnCallDuration]=0&Legs[0][CauseCode]=RING_TIMEOUT&Legs[0][Cause]=1003&OutgoingPhoneNumber=07314853246&ProcessStatus=null&StartTime=2021-07-14 15:36:22&To=07314853246&flow_id=383431&tenant_id=53926";

/// The seed's request without `digits`: what Greeting, Gather and Passthru receive before a PIN.
fn seed_without_digits() -> String {
    encode_seed(&SEED_PIN_CONNECT.replace("&digits=\"568\"", ""))
}

fn seed_check_pin(digits: &str) -> String {
    encode_seed(&SEED_PIN_CONNECT.replace("\"568\"", &format!("\"{digits}\"")))
}

#[tokio::test]
async fn a_whole_pin_call_with_the_seed_requests_reaches_the_customer() {
    let app = spawn_app().await;
    app.create_order("OD-568", "568").await;

    let greeting = app.exotel("greeting", &seed_without_digits()).await;
    assert_eq!(greeting.status(), 200);
    assert_eq!(greeting.headers()["content-type"], "text/plain");
    assert_eq!(greeting.text().await.unwrap(), "Welcome to Swift Couriers.");

    let gather = app.exotel_json("gather", &seed_without_digits()).await;
    assert!(
        gather["gather_prompt"]["text"]
            .as_str()
            .unwrap()
            .contains("PIN")
    );

    let check = app
        .exotel("check-pin", &encode_seed(SEED_PIN_CONNECT))
        .await;
    assert_eq!(check.status(), 200, "a valid PIN goes on to Connect");

    let dial = app
        .exotel_text("connect", &encode_seed(SEED_PIN_CONNECT))
        .await;
    assert_eq!(dial, CUSTOMER_E164);

    let end = app.exotel("call-end", &encode_seed(SEED_COMPLETED)).await;
    assert_eq!(end.status(), 200);

    let record = app.call_record("c39894edd8a85d7fd95dbf5fdb65157g").await;
    assert_eq!(record["provider"], "exotel");
    assert_eq!(record["outcome"], "connected");
    assert_eq!(record["order_id"], "OD-568");
    assert_eq!(record["caller"], "+917709562799");
    assert_eq!(record["virtual_number"], "+917314853246");
    assert_eq!(record["destination"], CUSTOMER_E164);
    assert_eq!(record["pin_attempts"], 1);
    assert_eq!(record["dial_seconds"], 40);
    assert_eq!(record["talk_seconds"], 31);
    assert_eq!(record["legs"][0]["CauseCode"], "NORMAL_CLEARING");
    assert!(record["recording_url"].as_str().unwrap().ends_with(".mp3"));
}

#[tokio::test]
async fn the_gather_json_follows_exotels_programmable_gather_schema() {
    let app = spawn_app().await;
    let g = app
        .exotel_json("gather", &Call::new("g1").query(None))
        .await;
    assert_eq!(g["max_input_digits"], 12, "the PIN maximum length");
    assert_eq!(g["finish_on_key"], "#");
    assert_eq!(g["input_timeout"], 6);
    assert!(g["repeat_menu"].as_u64().is_some());
    assert!(
        g["repeat_gather_prompt"]["text"]
            .as_str()
            .unwrap()
            .contains("did not receive")
    );
    assert_eq!(
        g["gather_prompt"]["text"],
        "Please enter your order PIN, followed by the hash key."
    );
}

#[tokio::test]
async fn a_wrong_pin_asks_again_with_a_prompt_that_says_so_then_the_right_one_connects() {
    let app = spawn_app().await;
    app.create_order("OD-1", "4821").await;
    let call = Call::new("wrong-then-right");

    assert_eq!(app.check_pin(&call, "1111").await, 302);
    let g = app.exotel_json("gather", &call.query(None)).await;
    let prompt = g["gather_prompt"]["text"].as_str().unwrap();
    assert!(prompt.contains("not recognised"), "{prompt}");
    assert!(prompt.contains("2 attempts left"), "{prompt}");

    assert_eq!(app.check_pin(&call, "4821").await, 200);
    assert_eq!(app.connect(&call).await, CUSTOMER_E164);
    assert_eq!(app.call_record("wrong-then-right").await["pin_attempts"], 2);
}

#[tokio::test]
async fn when_the_attempts_are_used_up_connect_dials_no_one() {
    let app = spawn_app().await;
    app.create_order("OD-1", "4821").await;
    let call = Call::new("used-up");

    assert_eq!(app.check_pin(&call, "1111").await, 302);
    assert_eq!(
        app.check_pin(&call, "").await,
        302,
        "no input costs an attempt too"
    );
    assert_eq!(
        app.check_pin(&call, "2222").await,
        200,
        "the last attempt goes on"
    );
    // The right PIN no longer helps this call.
    assert_eq!(app.check_pin(&call, "4821").await, 200);
    assert_eq!(app.connect(&call).await, "");

    let json = app
        .exotel_json("connect.json", &call.query(Some("4821")))
        .await;
    assert_eq!(json["destination"]["numbers"], serde_json::json!([]));

    let goodbye = app.exotel_text("goodbye", &call.query(None)).await;
    assert!(goodbye.contains("could not verify your PIN"), "{goodbye}");

    app.exotel("call-end", &call.query(None)).await;
    let record = app.call_record("used-up").await;
    assert_eq!(record["outcome"], "pin_failed");
    assert_eq!(record["pin_attempts"], 3);
    assert!(record["destination"].is_null());
}

#[tokio::test]
async fn an_expired_order_is_a_wrong_pin() {
    let app = spawn_app().await;
    app.create_order("OD-old", "4821").await;
    app.sql(format!(
        "update orders set expires_at = {} where order_id = 'OD-old'",
        a_minute_ago_ms()
    ))
    .await;
    let call = Call::new("expired");
    assert_eq!(app.check_pin(&call, "4821").await, 302);
    assert_eq!(app.connect(&call).await, "");
}

#[tokio::test]
async fn a_deleted_order_stops_working_at_once_even_mid_call() {
    let app = spawn_app().await;
    app.create_order("OD-1", "4821").await;
    let call = Call::new("deleted-mid-call");
    assert_eq!(app.check_pin(&call, "4821").await, 200);

    assert_eq!(app.delete_json("/orders/OD-1").await.0, 200);

    assert_eq!(
        app.connect(&call).await,
        "",
        "a deactivated order is never dialled"
    );
    let other = Call::new("after-delete");
    assert_eq!(app.check_pin(&other, "4821").await, 302);
}

#[tokio::test]
async fn a_pin_of_another_virtual_number_is_a_wrong_pin() {
    let app = spawn_app().await;
    let r = app
        .post_order(serde_json::json!({
            "order_id": "OD-elsewhere", "customer_number": "09812345678",
            "pin": "4821", "virtual_number": "08088919888"
        }))
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(app.check_pin(&Call::new("other-vn"), "4821").await, 302);
}

#[tokio::test]
async fn an_order_without_a_virtual_number_works_on_any() {
    let app = spawn_app().await;
    let r = app
        .post_order(serde_json::json!({
            "order_id": "OD-any", "customer_number": "09812345678", "pin": "4821"
        }))
        .await;
    assert_eq!(r.status(), 201);
    let call = Call::new("any-vn");
    assert_eq!(app.check_pin(&call, "4821").await, 200);
    assert_eq!(app.connect(&call).await, CUSTOMER_E164);
}

#[tokio::test]
async fn two_interleaved_calls_keep_their_own_state() {
    let app = spawn_app().await;
    app.create_order("OD-1", "4821").await;
    let mut b = Call::new("call-b");
    b.from = "09988776655".into();
    let a = Call::new("call-a");

    assert_eq!(app.check_pin(&a, "0001").await, 302);
    assert_eq!(app.check_pin(&b, "0002").await, 302);
    assert_eq!(app.check_pin(&a, "0003").await, 302);
    assert_eq!(app.check_pin(&b, "4821").await, 200);
    assert_eq!(app.connect(&b).await, CUSTOMER_E164);
    assert_eq!(app.connect(&a).await, "");
    assert_eq!(app.check_pin(&a, "4821").await, 200);
    assert_eq!(app.connect(&a).await, CUSTOMER_E164);
    assert_eq!(app.call_record("call-a").await["pin_attempts"], 3);
    assert_eq!(app.call_record("call-b").await["pin_attempts"], 2);
}

#[tokio::test]
async fn head_on_greeting_answers_with_the_same_headers_as_get() {
    let app = spawn_app().await;
    let query = Call::new("head").query(None);
    let url = format!("{}?{query}", app.exotel_url("greeting"));
    let get = app.client.get(&url).send().await.unwrap();
    let head = app.client.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-type"], "text/plain");
    assert_eq!(
        head.headers()["content-type"],
        get.headers()["content-type"]
    );
    assert_eq!(
        head.headers().get("content-length"),
        get.headers().get("content-length")
    );
    assert_eq!(head.text().await.unwrap(), "");
    // Exotel's check of the URL carries no call.
    let bare = app
        .client
        .head(app.exotel_url("greeting"))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 200);
}

#[tokio::test]
async fn a_wrong_secret_gets_404_on_every_applet() {
    let app = spawn_app().await;
    for applet in [
        "greeting",
        "gather",
        "check-pin",
        "connect",
        "connect.json",
        "goodbye",
        "call-end",
    ] {
        let wrong = format!("{}/exotel/not-the-secret-0000000000/{applet}", app.address);
        let r = app.client.get(&wrong).send().await.unwrap();
        assert_eq!(r.status(), 404, "{applet}");
        let almost = format!(
            "{}/exotel/{}X/{applet}",
            app.address,
            &EXOTEL_SECRET[..EXOTEL_SECRET.len() - 1]
        );
        assert_eq!(app.client.get(&almost).send().await.unwrap().status(), 404);
    }
}

#[tokio::test]
async fn applet_paths_route_by_hand_as_the_router_did() {
    let app = spawn_app().await;
    let base = format!("{}/exotel/{EXOTEL_SECRET}", app.address);
    let sid = "&CallSid=route-by-hand&CallFrom=09812345678&CallTo=07314853246";
    // Every applet answers GET, HEAD and POST under the right secret.
    let greeting = format!("{base}/greeting?x=1{sid}");
    assert_eq!(
        app.client.get(&greeting).send().await.unwrap().status(),
        200
    );
    assert_eq!(
        app.client.head(&greeting).send().await.unwrap().status(),
        200
    );
    assert_eq!(
        app.client.post(&greeting).send().await.unwrap().status(),
        200
    );
    // Another method is refused as such, with what is allowed.
    let put = app.client.put(&greeting).send().await.unwrap();
    assert_eq!(put.status(), 405);
    assert_eq!(put.headers()["allow"], "GET, HEAD, POST");
    // An unknown applet, a missing one, a deeper path and the bare prefix: the JSON 404 of
    // every unknown path.
    for path in [
        format!("{base}/no-such-applet"),
        format!("{base}/"),
        base.clone(),
        format!("{base}/greeting/more"),
        format!("{}/exotel", app.address),
        format!("{}/exotel/", app.address),
    ] {
        let r = app.client.get(&path).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }
    // A prefix that only starts like `/exotel` is no Exotel path.
    let other = format!("{}/exotelx/{EXOTEL_SECRET}/greeting", app.address);
    assert_eq!(app.client.get(&other).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn the_server_restarted_between_two_steps_continues_the_call() {
    let app = spawn_app().await;
    app.create_order("OD-1", "4821").await;
    let wrong = Call::new("restart-wrong");
    let right = Call::new("restart-right");
    assert_eq!(app.check_pin(&wrong, "1111").await, 302);
    assert_eq!(app.check_pin(&wrong, "2222").await, 302);
    assert_eq!(app.check_pin(&right, "4821").await, 200);

    let app = app.restart().await;

    // The first call had used two of its three attempts: the next wrong one is its last.
    assert_eq!(app.check_pin(&wrong, "3333").await, 200);
    assert_eq!(app.connect(&wrong).await, "");
    // The second call had resolved its order: Connect dials the customer.
    assert_eq!(app.connect(&right).await, CUSTOMER_E164);
}

#[tokio::test]
async fn connect_json_dials_the_customer_from_the_virtual_number() {
    let app = spawn_app_with(|s| s.calls.connect.record = true).await;
    app.create_order("OD-1", "4821").await;
    let call = Call::new("json");
    assert_eq!(app.check_pin(&call, "4821").await, 200);
    let c: Value = app
        .exotel_json("connect.json", &call.query(Some("4821")))
        .await;
    assert_eq!(
        c["destination"]["numbers"],
        serde_json::json!([CUSTOMER_E164])
    );
    assert_eq!(c["outgoing_phone_number"], "+917314853246");
    assert_eq!(c["fetch_after_attempt"], false);
    assert_eq!(c["record"], true);
    assert_eq!(c["max_ringing_duration"], 45);
    assert_eq!(c["max_conversation_duration"], 3600);
}

#[tokio::test]
async fn a_flow_without_check_pin_resolves_the_digits_at_connect() {
    let app = spawn_app().await;
    app.create_order("OD-568", "568").await;
    // The seed's Connect request, with its digits, straight after Gather.
    let body = app
        .exotel_text("connect", &encode_seed(SEED_PIN_CONNECT))
        .await;
    assert_eq!(body, CUSTOMER_E164);

    let wrong = app
        .exotel_text(
            "connect",
            &seed_check_pin("999").replace("c39894", "ffff94"),
        )
        .await;
    assert_eq!(wrong, "", "a wrong PIN at Connect dials no one");
}

#[tokio::test]
async fn digits_are_read_however_exotel_and_callers_wrap_them() {
    let app = spawn_app().await;
    app.create_order("OD-1", "4821").await;
    for (i, raw) in [
        "%224821%22",
        "4821",
        "%224821%23%22",
        "+4821+",
        "%E2%80%9C4821%E2%80%9D",
    ]
    .iter()
    .enumerate()
    {
        let sid = format!("wrap-{i}");
        let query = format!("{}&digits={raw}", Call::new(&sid).query(None));
        let r = app.exotel("check-pin", &query).await;
        assert_eq!(r.status(), 200, "digits={raw}");
        assert_eq!(
            app.connect(&Call::new(&sid)).await,
            CUSTOMER_E164,
            "digits={raw}"
        );
    }
}

#[tokio::test]
async fn post_form_requests_work_like_get() {
    let app = spawn_app().await;
    app.create_order("OD-1", "4821").await;
    let call = Call::new("posted");
    let r = app
        .client
        .post(app.exotel_url("check-pin"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(call.query(Some("4821")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .client
        .post(app.exotel_url("connect"))
        .form(&[("CallSid", "posted"), ("CallTo", "07314853246")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), CUSTOMER_E164);
}

#[tokio::test]
async fn a_parameter_sent_twice_is_read_as_its_last_value() {
    let app = spawn_app().await;
    app.create_order("OD-1", "4821").await;
    let call = Call::new("twice");
    let query = format!("{}&digits=%224821%22", call.query(Some("9999")));
    let r = app.exotel("check-pin", &query).await;
    assert_eq!(
        r.status(),
        200,
        "the last digits, the right PIN, go on to Connect"
    );
    assert_eq!(app.connect(&call).await, CUSTOMER_E164);
    // And the other way round: a right PIN followed by a wrong one asks again.
    let call = Call::new("twice-wrong");
    let query = format!("{}&digits=%229999%22", call.query(Some("4821")));
    assert_eq!(app.exotel("check-pin", &query).await.status(), 302);
}

#[tokio::test]
async fn a_form_body_wins_over_the_query_string_where_both_have_a_key() {
    let app = spawn_app().await;
    app.create_order("OD-1", "4821").await;
    let call = Call::new("both");
    let r = app
        .client
        .post(format!(
            "{}?{}",
            app.exotel_url("check-pin"),
            call.query(Some("9999"))
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("digits=%224821%22")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the body's digits, the right PIN");
    assert_eq!(app.connect(&call).await, CUSTOMER_E164);
}

#[tokio::test]
async fn requests_without_a_call_sid_get_a_safe_answer_and_dial_no_one() {
    let app = spawn_app().await;
    app.create_order("OD-1", "4821").await;
    assert_eq!(
        app.exotel("check-pin", "digits=%224821%22").await.status(),
        200
    );
    assert_eq!(app.exotel_text("connect", "digits=%224821%22").await, "");
    let g = app.exotel_json("gather", "").await;
    assert!(g["gather_prompt"]["text"].is_string());
    assert_eq!(app.exotel("call-end", "").await.status(), 200);
    assert_eq!(
        app.exotel("check-pin", "CallSid=a%20b&digits=4821")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_repeated_call_end_leaves_one_record() {
    let app = spawn_app().await;
    app.create_order("OD-568", "568").await;
    assert_eq!(
        app.exotel("check-pin", &encode_seed(SEED_PIN_CONNECT))
            .await
            .status(),
        200
    );
    for _ in 0..3 {
        assert_eq!(
            app.exotel("call-end", &encode_seed(SEED_COMPLETED))
                .await
                .status(),
            200
        );
    }
    let record = app.call_record("c39894edd8a85d7fd95dbf5fdb65157g").await;
    assert_eq!(record["outcome"], "connected");
    assert_eq!(record["talk_seconds"], 31);
}

#[tokio::test]
async fn malformed_values_in_call_end_are_kept_as_received() {
    let app = spawn_app().await;
    let r = app.exotel("call-end", &encode_seed(SEED_INCOMPLETE)).await;
    assert_eq!(r.status(), 200);
    let record = app.call_record("0e50bc001da69c238b55b56a0a1c157e").await;
    assert_eq!(record["outcome"], "canceled");
    assert_eq!(record["caller"], "077095xxxx");
    assert_eq!(record["legs"][0]["Number"], "07995679xx");
    assert_eq!(record["legs"][0]["CauseCode"], "RING_TIMEOUT");
    assert_eq!(record["talk_seconds"], 0);
}

#[tokio::test]
async fn the_configured_attempts_and_pin_length_shape_the_flow() {
    let app = spawn_app_with(|s| {
        s.calls.pin_max_attempts = 1;
        s.orders.pin_min = 4;
        s.orders.pin_max = 6;
    })
    .await;
    let g = app
        .exotel_json("gather", &Call::new("cfg").query(None))
        .await;
    assert_eq!(g["max_input_digits"], 6);
    assert_eq!(
        app.check_pin(&Call::new("cfg"), "1111").await,
        200,
        "one attempt only"
    );
}

#[tokio::test]
async fn a_dead_database_still_gets_playable_answers() {
    let app = spawn_app().await;
    app.create_order("OD-1", "4821").await;
    app.sql("drop table calls").await;
    let call = Call::new("db-broken");
    assert_eq!(
        app.exotel_text("greeting", &call.query(None)).await,
        "Welcome to Swift Couriers."
    );
    let g = app.exotel_json("gather", &call.query(None)).await;
    assert!(g["gather_prompt"]["text"].as_str().unwrap().contains("PIN"));
    assert_eq!(
        app.check_pin(&call, "4821").await,
        200,
        "never loops the caller"
    );
    assert_eq!(app.connect(&call).await, "");
    let c = app.exotel_json("connect.json", &call.query(None)).await;
    assert_eq!(c["destination"]["numbers"], serde_json::json!([]));
    assert_eq!(
        app.exotel("call-end", &call.query(None)).await.status(),
        200
    );
}

#[tokio::test]
async fn the_national_number_format_answers_connect_with_a_0_prefixed_number() {
    let app = spawn_app_with(|s| {
        s.providers.exotel_number_format = pinbridge::config::ExotelNumberFormat::National;
    })
    .await;
    app.create_order("OD-568", "568").await;
    let dial = app
        .exotel_text("connect", &encode_seed(SEED_PIN_CONNECT))
        .await;
    assert_eq!(dial, "09812345678", "Exotel's national form");
    let call = Call::new("json-national");
    let c: Value = app
        .exotel_json("connect.json", &call.query(Some("568")))
        .await;
    assert_eq!(
        c["destination"]["numbers"],
        serde_json::json!(["09812345678"])
    );
    // The call log keeps one form: E.164.
    let record = app.call_record("c39894edd8a85d7fd95dbf5fdb65157g").await;
    assert_eq!(record["destination"], CUSTOMER_E164);
}

#[tokio::test]
async fn every_exotel_number_field_is_read_in_national_and_international_form() {
    let app = spawn_app().await;
    app.create_order("OD-568", "568").await;
    // CallFrom/From and CallTo/To as Exotel writes them (0-prefixed), in E.164, with the
    // country code and no '+', and with the '+' that form decoding turned into a space.
    for (i, (caller, exophone)) in [
        ("07709562799", "07314853246"),
        ("+917709562799", "+917314853246"),
        ("917709562799", "917314853246"),
        ("+917709562799", "07314853246"),
    ]
    .into_iter()
    .enumerate()
    {
        let sid = format!("c39894edd8a85d7fd95dbf5fdb6515{i:02}");
        let raw = SEED_PIN_CONNECT
            .replace("c39894edd8a85d7fd95dbf5fdb65157g", &sid)
            .replace("07709562799", caller)
            .replace("07314853246", exophone);
        let dial = app.exotel_text("connect", &encode_seed(&raw)).await;
        assert_eq!(dial, CUSTOMER_E164, "{caller} on {exophone}");
        let record = app.call_record(&sid).await;
        assert_eq!(record["caller"], "+917709562799", "{caller}");
        assert_eq!(record["virtual_number"], "+917314853246", "{exophone}");
    }
}
