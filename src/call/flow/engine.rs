//! [`step`]: one transition of the call state machine.

use super::{
    Bridging, CallEvent, CallState, Chosen, Decision, Facts, Failure, Phase, Policy, Prompt, Route,
    Strangers,
};

/// Advances a call by one event.
///
/// Rules (DESIGN.md, "Rules that come from the field"):
/// - a bridge is only ever to the customer of an active order whose PIN this call keyed, on
///   this virtual number; nothing the request supplied is dialled;
/// - every PIN entry, and every timeout, uses one of `policy.max_attempts`; after the last one
///   the call says goodbye and dials no one;
/// - a wrong, expired or deactivated PIN, or a PIN of another virtual number, all look the same
///   to the caller (storage simply finds no active order for them);
/// - a call whose end was reported answers every later step with "no one to dial": a
///   request replayed after the call reaches no one.
pub fn step(
    state: &CallState,
    event: CallEvent,
    facts: &Facts,
    policy: &Policy,
) -> (CallState, Decision) {
    if state.ended {
        return match event {
            CallEvent::Ended => (state.clone(), Decision::Recorded),
            _ => (state.clone(), goodbye(Prompt::NoOneToDial)),
        };
    }
    match event {
        CallEvent::Started => (
            state.clone(),
            Decision::Greet {
                prompt: Prompt::Welcome,
            },
        ),
        CallEvent::PromptNeeded => match state.phase {
            Phase::Exhausted => (state.clone(), goodbye(farewell(state))),
            // Exotel's Gather after a Connect that dialled no one: a number that takes no
            // PIN from strangers says so, and its PIN entry ends (the `check-pin` and Connect
            // that follow dial no one).
            Phase::CollectingPin
                if !has_pin_session(state) && facts.strangers != Strangers::Pin =>
            {
                let next = CallState {
                    phase: Phase::Exhausted,
                    ..state.clone()
                };
                (next, goodbye(Prompt::NoOneToDial))
            }
            _ => (state.clone(), ask(next_prompt(state, policy), policy)),
        },
        CallEvent::Incoming => match &state.phase {
            Phase::CollectingPin if !has_pin_session(state) => {
                if let Some(routed) = route_by_caller(facts) {
                    return (state.clone(), routed);
                }
                if let Some(answered) = stranger(state, facts) {
                    return answered;
                }
                let mut first = ask(Prompt::EnterPin, policy);
                if let Decision::AskForPin { welcome, .. } = &mut first {
                    *welcome = true;
                }
                (state.clone(), first)
            }
            // A repeated delivery of the incoming webhook: carry on where the call stands.
            Phase::CollectingPin => (state.clone(), ask(next_prompt(state, policy), policy)),
            Phase::Resolved { .. } => dial(state, facts),
            Phase::Exhausted => (state.clone(), goodbye(farewell(state))),
        },
        CallEvent::Digits { pin } => match &state.phase {
            Phase::CollectingPin if facts.pin_budget_spent => {
                let next = CallState {
                    attempts: state.attempts.saturating_add(1),
                    phase: Phase::Exhausted,
                    last_failure: Some(Failure::TryLater),
                    ended: false,
                };
                (next, goodbye(Prompt::TryLater))
            }
            Phase::CollectingPin => {
                let found = pin.and(facts.order.as_ref()).filter(|_| !facts.pins_locked);
                match found {
                    Some(order) => {
                        let next = CallState {
                            attempts: state.attempts.saturating_add(1),
                            phase: Phase::Resolved {
                                order_id: order.order_id.clone(),
                            },
                            last_failure: None,
                            ended: false,
                        };
                        (next, bridge(order, facts))
                    }
                    None => fail(state, Failure::WrongPin, policy),
                }
            }
            // A repeated delivery of the step that resolved the call: answer the same.
            Phase::Resolved { .. } => dial(state, facts),
            Phase::Exhausted => (state.clone(), goodbye(farewell(state))),
        },
        CallEvent::NoInput => match state.phase {
            Phase::CollectingPin => fail(state, Failure::NoInput, policy),
            Phase::Resolved { .. } => dial(state, facts),
            Phase::Exhausted => (state.clone(), goodbye(farewell(state))),
        },
        CallEvent::DialNeeded => dial(state, facts),
        CallEvent::Ended => (state.clone(), Decision::Recorded),
    }
}

/// What a caller with no route gets when the number takes no PIN from strangers
/// ([`Facts::strangers`]): the desk (the call stays as it is, so that a repeated request is
/// answered the same), or "no one to dial" (also for the desk when none is set), which ends
/// the call's PIN entry: no PIN keyed after it is taken. `None`: the PIN flow.
fn stranger(state: &CallState, facts: &Facts) -> Option<(CallState, Decision)> {
    if facts.strangers == Strangers::Webhook {
        return Some(chosen(state, facts));
    }
    match (facts.strangers, &facts.desk) {
        (Strangers::Pin, _) => None,
        (Strangers::Desk, Some(desk)) => Some((
            state.clone(),
            Decision::Bridge {
                to: desk.clone(),
                caller_id: facts.virtual_number.clone(),
                route: Route::Fallback,
                bridging: Bridging::default(),
            },
        )),
        (Strangers::Message | Strangers::Desk | Strangers::Webhook, _) => Some(message(state)),
    }
}

/// "No one to dial", which ends the call's PIN entry.
fn message(state: &CallState) -> (CallState, Decision) {
    (
        CallState {
            phase: Phase::Exhausted,
            ..state.clone()
        },
        goodbye(Prompt::NoOneToDial),
    )
}

/// A number that asks the business ([`Strangers::Webhook`]): the party, order or desk it
/// chose (storage checked it), else the message. The call stays as it is after a bridge, so
/// that a repeated request is answered the same.
fn chosen(state: &CallState, facts: &Facts) -> (CallState, Decision) {
    let (to, route) = match (&facts.chosen, &facts.desk) {
        (Some(Chosen::Party(p)), _) => (
            p.peer.clone(),
            Route::Booking {
                booking_id: p.booking_id.clone(),
            },
        ),
        (Some(Chosen::Order(order)), _) => return (state.clone(), bridge(order, facts)),
        (Some(Chosen::Desk), Some(desk)) => (desk.clone(), Route::Fallback),
        (Some(Chosen::Desk) | None, _) => return message(state),
    };
    let decision = Decision::Bridge {
        to,
        caller_id: facts.virtual_number.clone(),
        route,
        bridging: Bridging::default(),
    };
    (state.clone(), decision)
}

/// The last words of a call that ends without a bridge: why no one is dialled.
pub fn farewell(state: &CallState) -> Prompt {
    match (&state.phase, state.last_failure) {
        (Phase::Exhausted, Some(Failure::TryLater)) => Prompt::TryLater,
        // A stranger on a number that takes no PIN from them: no attempt was made.
        (Phase::Exhausted, None) => Prompt::NoOneToDial,
        (Phase::Exhausted, _) => Prompt::AttemptsUsedUp,
        _ => Prompt::NoOneToDial,
    }
}

/// A short name of a decision for logs (`ask_for_pin`, `bridge`, ...), free of personal data.
pub fn decision_name(decision: &Decision) -> &'static str {
    match decision {
        Decision::Greet { .. } => "greet",
        Decision::AskForPin { .. } => "ask_for_pin",
        Decision::Bridge { .. } => "bridge",
        Decision::Goodbye { .. } => "goodbye",
        Decision::Recorded => "recorded",
    }
}

/// Whom to dial: the resolved order's customer, if that order is still the active one; for a
/// call without a PIN session, whom the caller reaches by [`route_by_caller`].
fn dial(state: &CallState, facts: &Facts) -> (CallState, Decision) {
    match (&state.phase, &facts.order) {
        (Phase::Resolved { order_id }, Some(order)) if *order_id == order.order_id => {
            (state.clone(), bridge(order, facts))
        }
        (Phase::Exhausted, _) => (state.clone(), goodbye(farewell(state))),
        (Phase::CollectingPin, _) if !has_pin_session(state) => {
            match (route_by_caller(facts), stranger(state, facts)) {
                (Some(routed), _) => (state.clone(), routed),
                (None, Some(answered)) => answered,
                (None, None) => (state.clone(), goodbye(Prompt::NoOneToDial)),
            }
        }
        _ => (state.clone(), goodbye(Prompt::NoOneToDial)),
    }
}

/// True once the caller has keyed (or timed out on) a PIN in this call.
pub fn has_pin_session(state: &CallState) -> bool {
    state.attempts > 0 || state.phase != Phase::CollectingPin
}

/// Caller-based routing (DESIGN.md; the booking issue): the caller's booking on this virtual
/// number bridges to its other party; otherwise the last caller who reached this caller through
/// this number is called back; otherwise `None` (the PIN flow, or no one).
pub fn route_by_caller(facts: &Facts) -> Option<Decision> {
    if let Some(b) = &facts.booking {
        return Some(Decision::Bridge {
            to: b.peer.clone(),
            caller_id: facts.virtual_number.clone(),
            route: Route::Booking {
                booking_id: b.booking_id.clone(),
            },
            bridging: Bridging::default(),
        });
    }
    facts.callback.as_ref().map(|c| Decision::Bridge {
        to: c.peer.clone(),
        caller_id: facts.virtual_number.clone(),
        route: Route::Callback {
            order_id: c.order_id.clone(),
            booking_id: c.booking_id.clone(),
        },
        bridging: Bridging::default(),
    })
}

fn fail(state: &CallState, failure: Failure, policy: &Policy) -> (CallState, Decision) {
    let attempts = state.attempts.saturating_add(1);
    if attempts >= policy.max_attempts {
        let next = CallState {
            attempts,
            phase: Phase::Exhausted,
            last_failure: Some(failure),
            ended: false,
        };
        return (next, goodbye(Prompt::AttemptsUsedUp));
    }
    let next = CallState {
        attempts,
        phase: Phase::CollectingPin,
        last_failure: Some(failure),
        ended: false,
    };
    let prompt = next_prompt(&next, policy);
    (next, ask(prompt, policy))
}

fn next_prompt(state: &CallState, policy: &Policy) -> Prompt {
    let attempts_left = policy.max_attempts.saturating_sub(state.attempts);
    match state.last_failure {
        None => Prompt::EnterPin,
        Some(Failure::WrongPin) => Prompt::WrongPin { attempts_left },
        Some(Failure::NoInput) => Prompt::NoInput { attempts_left },
        // Never collecting a PIN after it: the phase is `Exhausted`.
        Some(Failure::TryLater) => Prompt::TryLater,
    }
}

fn ask(prompt: Prompt, policy: &Policy) -> Decision {
    Decision::AskForPin {
        welcome: false,
        prompt,
        max_digits: policy.pin_max_len,
        finish_on_key: '#',
        timeout_secs: policy.input_timeout_secs,
    }
}

fn bridge(order: &super::ActiveOrder, facts: &Facts) -> Decision {
    Decision::Bridge {
        to: order.customer.clone(),
        caller_id: facts.virtual_number.clone(),
        route: Route::Pin {
            order_id: order.order_id.clone(),
        },
        bridging: Bridging::default(),
    }
}

fn goodbye(prompt: Prompt) -> Decision {
    Decision::Goodbye { prompt }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::flow::{ActiveOrder, BookingPeer, CallbackPeer};
    use crate::domain::{PhoneNumber, Pin, Region};
    use proptest::prelude::*;

    const POLICY: Policy = Policy {
        max_attempts: 3,
        pin_min_len: 4,
        pin_max_len: 12,
        input_timeout_secs: 6,
    };

    fn number(s: &str) -> PhoneNumber {
        PhoneNumber::parse(s, Region::parse("IN").unwrap()).unwrap()
    }

    fn order() -> ActiveOrder {
        ActiveOrder {
            order_id: "OD-1".into(),
            customer: number("09812345678"),
        }
    }

    fn facts(order: Option<ActiveOrder>) -> Facts {
        Facts {
            virtual_number: Some(number("07314853246")),
            order,
            ..Facts::default()
        }
    }

    fn peers() -> Facts {
        Facts {
            booking: Some(BookingPeer {
                booking_id: "bk_1".into(),
                peer: number("09988776655"),
            }),
            callback: Some(CallbackPeer {
                peer: number("09123456789"),
                order_id: Some("OD-9".into()),
                booking_id: None,
            }),
            ..facts(None)
        }
    }

    #[test]
    fn a_call_without_a_pin_session_reaches_its_booking_peer_first_then_its_callback() {
        let (_, d) = step(
            &CallState::default(),
            CallEvent::DialNeeded,
            &peers(),
            &POLICY,
        );
        assert!(
            matches!(d, Decision::Bridge { ref to, route: Route::Booking { .. }, .. } if *to == number("09988776655"))
        );
        let only_callback = Facts {
            booking: None,
            ..peers()
        };
        let (_, d) = step(
            &CallState::default(),
            CallEvent::DialNeeded,
            &only_callback,
            &POLICY,
        );
        assert!(
            matches!(d, Decision::Bridge { ref to, route: Route::Callback { .. }, .. } if *to == number("09123456789"))
        );
        let (_, d) = step(
            &CallState::default(),
            CallEvent::DialNeeded,
            &facts(None),
            &POLICY,
        );
        assert_eq!(d, goodbye(Prompt::NoOneToDial));
    }

    #[test]
    fn an_incoming_call_is_routed_by_its_caller_else_welcomed_and_asked_for_the_pin() {
        let (_, d) = step(
            &CallState::default(),
            CallEvent::Incoming,
            &peers(),
            &POLICY,
        );
        assert!(matches!(
            d,
            Decision::Bridge {
                route: Route::Booking { .. },
                ..
            }
        ));
        let (_, d) = step(
            &CallState::default(),
            CallEvent::Incoming,
            &facts(None),
            &POLICY,
        );
        assert!(matches!(
            d,
            Decision::AskForPin {
                welcome: true,
                prompt: Prompt::EnterPin,
                ..
            }
        ));
    }

    #[test]
    fn a_call_with_a_pin_session_is_never_routed_by_its_caller() {
        let (state, _) = step(
            &CallState::default(),
            CallEvent::Digits { pin: pin("1111") },
            &facts(None),
            &POLICY,
        );
        let (_, d) = step(&state, CallEvent::DialNeeded, &peers(), &POLICY);
        assert_eq!(d, goodbye(Prompt::NoOneToDial));
    }

    #[test]
    fn a_spent_guessing_budget_takes_no_pin_and_says_try_later_to_the_end() {
        let spent = Facts {
            pin_budget_spent: true,
            ..facts(Some(order()))
        };
        let (next, d) = step(
            &CallState::default(),
            CallEvent::Digits { pin: pin("4821") },
            &spent,
            &POLICY,
        );
        assert_eq!(d, goodbye(Prompt::TryLater), "the right PIN is not taken");
        assert_eq!(next.phase, Phase::Exhausted);
        assert_eq!(farewell(&next), Prompt::TryLater);
        // The dial that follows and any prompt after it: no one, the same words.
        for event in [
            CallEvent::DialNeeded,
            CallEvent::PromptNeeded,
            CallEvent::NoInput,
        ] {
            let (_, d) = step(&next, event, &facts(Some(order())), &POLICY);
            assert_eq!(d, goodbye(Prompt::TryLater));
        }
        // Without it the same PIN bridges.
        let (_, d) = step(
            &CallState::default(),
            CallEvent::Digits { pin: pin("4821") },
            &facts(Some(order())),
            &POLICY,
        );
        assert!(matches!(d, Decision::Bridge { .. }));
    }

    #[test]
    fn an_ended_call_reaches_no_one_whatever_it_is_sent() {
        let resolved = CallState {
            attempts: 1,
            phase: Phase::Resolved {
                order_id: "OD-1".into(),
            },
            ..CallState::default()
        };
        for before in [CallState::default(), resolved] {
            let ended = CallState {
                ended: true,
                ..before
            };
            for event in [
                CallEvent::Incoming,
                CallEvent::PromptNeeded,
                CallEvent::Digits { pin: pin("4821") },
                CallEvent::NoInput,
                CallEvent::DialNeeded,
            ] {
                let (next, d) = step(&ended, event.clone(), &peers_and_order(), &POLICY);
                assert_eq!(d, goodbye(Prompt::NoOneToDial), "{ended:?} {event:?}");
                assert_eq!(next, ended, "{event:?} changes nothing");
            }
            let (_, d) = step(&ended, CallEvent::Ended, &peers_and_order(), &POLICY);
            assert_eq!(d, Decision::Recorded);
        }
    }

    fn peers_and_order() -> Facts {
        Facts {
            order: Some(order()),
            ..peers()
        }
    }

    fn pin(s: &str) -> Option<Pin> {
        Pin::parse(s, 4, 12).ok()
    }

    #[test]
    fn a_right_pin_bridges_to_the_customer_with_the_virtual_number_as_caller_id() {
        let (state, d) = step(
            &CallState::default(),
            CallEvent::Digits { pin: pin("4821") },
            &facts(Some(order())),
            &POLICY,
        );
        assert_eq!(state.attempts, 1);
        assert_eq!(
            d,
            Decision::Bridge {
                to: number("09812345678"),
                caller_id: Some(number("07314853246")),
                route: Route::Pin {
                    order_id: "OD-1".into()
                },
                bridging: Bridging::default(),
            }
        );
        let (_, d) = step(
            &state,
            CallEvent::DialNeeded,
            &facts(Some(order())),
            &POLICY,
        );
        assert!(matches!(d, Decision::Bridge { .. }));
    }

    #[test]
    fn a_wrong_pin_asks_again_with_a_different_prompt() {
        let (state, d) = step(
            &CallState::default(),
            CallEvent::Digits { pin: pin("0000") },
            &facts(None),
            &POLICY,
        );
        assert_eq!(
            d,
            Decision::AskForPin {
                welcome: false,
                prompt: Prompt::WrongPin { attempts_left: 2 },
                max_digits: 12,
                finish_on_key: '#',
                timeout_secs: 6
            }
        );
        let (_, d) = step(&state, CallEvent::PromptNeeded, &facts(None), &POLICY);
        assert!(matches!(
            d,
            Decision::AskForPin {
                prompt: Prompt::WrongPin { attempts_left: 2 },
                ..
            }
        ));
    }

    #[test]
    fn the_last_failed_attempt_says_goodbye_and_nothing_is_dialled_after() {
        let mut state = CallState::default();
        for _ in 0..3 {
            state = step(&state, CallEvent::NoInput, &facts(None), &POLICY).0;
        }
        assert_eq!(state.phase, Phase::Exhausted);
        // Even the right PIN, or an order found for it, no longer bridges this call.
        let (_, d) = step(
            &state,
            CallEvent::Digits { pin: pin("4821") },
            &facts(Some(order())),
            &POLICY,
        );
        assert_eq!(d, goodbye(Prompt::AttemptsUsedUp));
        let (_, d) = step(
            &state,
            CallEvent::DialNeeded,
            &facts(Some(order())),
            &POLICY,
        );
        assert_eq!(d, goodbye(Prompt::AttemptsUsedUp));
    }

    #[test]
    fn an_order_that_ended_after_resolution_is_no_longer_dialled() {
        let (state, _) = step(
            &CallState::default(),
            CallEvent::Digits { pin: pin("4821") },
            &facts(Some(order())),
            &POLICY,
        );
        let (_, d) = step(&state, CallEvent::DialNeeded, &facts(None), &POLICY);
        assert_eq!(d, goodbye(Prompt::NoOneToDial));
    }

    #[test]
    fn dialling_before_any_pin_dials_no_one() {
        let (_, d) = step(
            &CallState::default(),
            CallEvent::DialNeeded,
            &facts(Some(order())),
            &POLICY,
        );
        assert_eq!(d, goodbye(Prompt::NoOneToDial));
    }

    #[test]
    fn a_locked_caller_gets_the_wrong_pin_answer_even_for_the_right_pin() {
        let locked = Facts {
            pins_locked: true,
            ..facts(Some(order()))
        };
        let (state, d) = step(
            &CallState::default(),
            CallEvent::Digits { pin: pin("4821") },
            &locked,
            &POLICY,
        );
        let (_, wrong) = step(
            &CallState::default(),
            CallEvent::Digits { pin: pin("0000") },
            &facts(None),
            &POLICY,
        );
        assert_eq!(d, wrong);
        assert_eq!(state.last_failure, Some(Failure::WrongPin));
    }

    #[test]
    fn a_malformed_pin_costs_an_attempt_even_if_storage_found_an_order() {
        let (state, d) = step(
            &CallState::default(),
            CallEvent::Digits { pin: None },
            &facts(Some(order())),
            &POLICY,
        );
        assert_eq!(state.attempts, 1);
        assert!(matches!(d, Decision::AskForPin { .. }));
    }

    fn strangers(answer: Strangers, desk: bool) -> Facts {
        Facts {
            strangers: answer,
            desk: desk.then(|| number("08000000000")),
            ..facts(Some(order()))
        }
    }

    #[test]
    fn a_number_that_answers_strangers_with_a_message_takes_no_pin_after_it() {
        for event in [
            CallEvent::Incoming,
            CallEvent::DialNeeded,
            CallEvent::PromptNeeded,
        ] {
            let f = strangers(Strangers::Message, true);
            let (state, d) = step(&CallState::default(), event.clone(), &f, &POLICY);
            assert_eq!(d, goodbye(Prompt::NoOneToDial), "{event:?}");
            assert_eq!(state.phase, Phase::Exhausted, "{event:?}");
            // The right PIN keyed after it reaches no one.
            let pin = CallEvent::Digits { pin: pin("4821") };
            let (_, after) = step(&state, pin, &f, &POLICY);
            assert_eq!(after, goodbye(Prompt::NoOneToDial), "{event:?}");
        }
    }

    #[test]
    fn a_number_that_sends_strangers_to_the_desk_bridges_them_there_or_says_no_one_without_one() {
        for event in [CallEvent::Incoming, CallEvent::DialNeeded] {
            let (state, d) = step(
                &CallState::default(),
                event.clone(),
                &strangers(Strangers::Desk, true),
                &POLICY,
            );
            assert!(
                matches!(&d, Decision::Bridge { to, route: Route::Fallback, .. } if *to == number("08000000000")),
                "{event:?}: {d:?}"
            );
            assert_eq!(
                state,
                CallState::default(),
                "a repeated request answers the same"
            );
            let (_, d) = step(
                &CallState::default(),
                event.clone(),
                &strangers(Strangers::Desk, false),
                &POLICY,
            );
            assert_eq!(d, goodbye(Prompt::NoOneToDial), "{event:?}");
        }
    }

    #[test]
    fn a_caller_with_a_route_is_no_stranger() {
        let f = Facts {
            strangers: Strangers::Message,
            ..peers()
        };
        let (_, d) = step(&CallState::default(), CallEvent::Incoming, &f, &POLICY);
        assert!(
            matches!(
                d,
                Decision::Bridge {
                    route: Route::Booking { .. },
                    ..
                }
            ),
            "{d:?}"
        );
        let f = strangers(Strangers::Pin, true);
        let (_, d) = step(&CallState::default(), CallEvent::Incoming, &f, &POLICY);
        assert!(
            matches!(d, Decision::AskForPin { welcome: true, .. }),
            "{d:?}"
        );
    }

    #[test]
    fn a_number_that_asks_the_business_bridges_only_to_what_storage_checked() {
        let party = Chosen::Party(BookingPeer {
            booking_id: "bk_1".into(),
            peer: number("09812345678"),
        });
        for event in [CallEvent::Incoming, CallEvent::DialNeeded] {
            let asked = |chosen: Option<Chosen>, desk: bool| Facts {
                chosen,
                ..strangers(Strangers::Webhook, desk)
            };
            let (state, d) = step(
                &CallState::default(),
                event.clone(),
                &asked(Some(party.clone()), false),
                &POLICY,
            );
            assert!(
                matches!(&d, Decision::Bridge { to, route: Route::Booking { booking_id }, .. }
                    if *to == number("09812345678") && booking_id == "bk_1"),
                "{event:?}: {d:?}"
            );
            assert_eq!(state, CallState::default());
            let (_, d) = step(
                &CallState::default(),
                event.clone(),
                &asked(Some(Chosen::Order(order())), false),
                &POLICY,
            );
            assert!(
                matches!(&d, Decision::Bridge { to, route: Route::Pin { .. }, .. } if *to == order().customer),
                "{event:?}: {d:?}"
            );
            let (_, d) = step(
                &CallState::default(),
                event.clone(),
                &asked(Some(Chosen::Desk), true),
                &POLICY,
            );
            assert!(
                matches!(
                    &d,
                    Decision::Bridge {
                        route: Route::Fallback,
                        ..
                    }
                ),
                "{event:?}: {d:?}"
            );
            for (chosen, desk) in [(None, true), (Some(Chosen::Desk), false)] {
                let (state, d) = step(
                    &CallState::default(),
                    event.clone(),
                    &asked(chosen, desk),
                    &POLICY,
                );
                assert_eq!(d, goodbye(Prompt::NoOneToDial), "{event:?}");
                assert_eq!(state.phase, Phase::Exhausted, "{event:?}");
            }
        }
    }

    fn event() -> impl Strategy<Value = (CallEvent, bool)> {
        // (event, whether storage finds the active order for it)
        prop_oneof![
            Just((CallEvent::Started, false)),
            Just((CallEvent::Incoming, false)),
            Just((CallEvent::PromptNeeded, false)),
            Just((CallEvent::NoInput, false)),
            Just((CallEvent::Ended, false)),
            any::<bool>().prop_map(|found| (CallEvent::DialNeeded, found)),
            ("[0-9]{0,6}", any::<bool>())
                .prop_map(|(d, found)| (CallEvent::Digits { pin: pin(&d) }, found)),
        ]
    }

    fn answer() -> impl Strategy<Value = Strangers> {
        prop_oneof![
            Just(Strangers::Pin),
            Just(Strangers::Message),
            Just(Strangers::Desk),
            // Asked, the business chose nothing active.
            Just(Strangers::Webhook)
        ]
    }

    proptest! {
        /// No event sequence bridges a call without a valid, active PIN keyed on it, whatever
        /// its number answers strangers, but to the desk of a number that sends them there,
        /// before any PIN; once a stranger heard the message, no PIN is taken.
        #[test]
        fn no_sequence_bridges_without_a_valid_active_pin(
            events in proptest::collection::vec(event(), 0..12),
            strangers in answer(),
            desk in any::<bool>(),
        ) {
            let mut state = CallState::default();
            let mut pin_accepted = false;
            let mut failures = 0u8;
            let mut messaged = false;
            for (event, found) in events {
                let valid_now = matches!(&event, CallEvent::Digits { pin: Some(_) }) && found;
                let is_digits = matches!(&event, CallEvent::Digits { .. } | CallEvent::NoInput);
                let f = Facts {
                    strangers,
                    desk: desk.then(|| number("08000000000")),
                    ..facts(found.then(order))
                };
                let (next, decision) = step(&state, event, &f, &POLICY);
                if let Decision::Bridge { route: Route::Fallback, to, .. } = &decision {
                    prop_assert_eq!(strangers, Strangers::Desk);
                    prop_assert!(!has_pin_session(&state), "the desk only before any PIN");
                    prop_assert_eq!(to, &number("08000000000"));
                    state = next;
                    continue;
                }
                if messaged {
                    prop_assert!(!matches!(decision, Decision::Bridge { .. }), "a PIN taken after the message");
                }
                if strangers == Strangers::Message
                    && !has_pin_session(&state)
                    && matches!(decision, Decision::Goodbye { .. })
                {
                    messaged = true;
                }
                if let Decision::Bridge { to, route, .. } = &decision {
                    prop_assert!(matches!(route, Route::Pin { .. }), "no booking or callback was found");
                    prop_assert!(pin_accepted || (valid_now && state.phase == Phase::CollectingPin));
                    prop_assert!(found, "bridged to an order storage did not find active");
                    prop_assert_eq!(to, &order().customer);
                    pin_accepted = true;
                }
                if is_digits && state.phase == Phase::CollectingPin && !matches!(decision, Decision::Bridge { .. }) {
                    failures += 1;
                }
                prop_assert!(next.attempts <= POLICY.max_attempts);
                prop_assert!(failures <= POLICY.max_attempts);
                if failures >= POLICY.max_attempts {
                    prop_assert_eq!(&next.phase, &Phase::Exhausted);
                }
                state = next;
            }
        }
    }
}
