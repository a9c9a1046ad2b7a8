//! Named aliases (SetModelAlias, DeleteModelAlias, RollbackModelAlias,
//! GetModelVersionByAlias): every production rule holds for every alias,
//! aliases are independent of each other, `latest` follows the versions, and
//! the database itself refuses what the rules forbid.

use std::collections::HashMap;

use model_registry_api::v1 as pb;
use tonic::Code;

use model_registry_e2e::{
    TestServer, alias_version, all_events, code_of, execute_sql, get_model, get_version,
    on_both_backends, production_version, promote, register_many, rollback_alias, set_alias,
    set_status, status_of,
};

on_both_backends!(
    an_alias_moves_atomically_and_every_move_is_an_event,
    alias_moves_check_compare_and_set_the_gate_and_the_version,
    rolling_back_staging_walks_its_own_history_and_leaves_production_alone,
    a_deleted_alias_points_nowhere_and_rolls_back_past_the_deletion,
    as_of_answers_per_alias_from_the_trail,
    a_version_holding_an_alias_cannot_be_deprecated_or_archived,
    latest_follows_registrations_and_status_changes_and_is_read_only,
    listings_filter_by_alias_and_models_show_their_aliases,
    update_model_sets_description_and_tags_with_an_event,
    concurrent_moves_of_one_alias_leave_one_winner_while_another_alias_moves_freely,
    the_database_refuses_aliases_the_rules_forbid,
    bad_alias_requests_name_the_field,
);

fn events_of_alias(events: &[pb::Event], alias: &str) -> Vec<(i32, Option<i64>, Option<i64>)> {
    events
        .iter()
        .filter(|e| e.alias == alias)
        .map(|e| (e.r#type, e.previous_version, e.new_version))
        .collect()
}

async fn an_alias_moves_atomically_and_every_move_is_an_event(server: TestServer) {
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 3).await;
    assert_eq!(
        alias_version(&mut client, "churn", "canary", None).await,
        None
    );

    let first = set_alias(&mut client, "churn", "canary", 2).await.unwrap();
    assert_eq!(first.previous_version, None);
    assert!(!first.unchanged);
    let moved = first.model_version.unwrap();
    assert_eq!(
        (moved.version, moved.aliases.clone()),
        (2, vec!["canary".to_owned()])
    );
    assert!(!moved.is_production, "canary is not production");
    let second = set_alias(&mut client, "churn", "canary", 3).await.unwrap();
    assert_eq!(second.previous_version, Some(2));
    assert_eq!(
        alias_version(&mut client, "churn", "canary", None).await,
        Some(3)
    );
    assert!(
        get_version(&mut client, "churn", 2)
            .await
            .unwrap()
            .aliases
            .is_empty()
    );

    // Production is an alias like any other, shown on the version both ways.
    promote(&mut client, "churn", 3).await.unwrap();
    let three = get_version(&mut client, "churn", 3).await.unwrap();
    assert_eq!(three.aliases, ["canary", "production"]);
    assert!(three.is_production);

    // Pointing an alias where it points already changes nothing.
    let before = all_events(&mut client, "churn").await.len();
    assert!(
        set_alias(&mut client, "churn", "canary", 3)
            .await
            .unwrap()
            .unchanged
    );
    assert_eq!(all_events(&mut client, "churn").await.len(), before);

    let events = all_events(&mut client, "churn").await;
    let set = pb::EventType::AliasSet as i32;
    assert_eq!(
        events_of_alias(&events, "canary"),
        [(set, None, Some(2)), (set, Some(2), Some(3))]
    );
    assert_eq!(
        events_of_alias(&events, "production"),
        [(set, None, Some(3))]
    );
    let last_canary = events.iter().rfind(|e| e.alias == "canary").unwrap();
    assert_eq!(
        (
            last_canary.version,
            last_canary.reason.as_str(),
            last_canary.actor.as_str()
        ),
        (Some(3), "move canary to 3", "anonymous")
    );

    // ListEvents filters by alias.
    let filtered = client
        .list_events(pb::ListEventsRequest {
            model_name: "churn".into(),
            alias: "canary".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(filtered.len(), 2);
    assert!(filtered.iter().all(|e| e.alias == "canary"));
}

async fn alias_moves_check_compare_and_set_the_gate_and_the_version(server: TestServer) {
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 3).await; // auc 0.500, 0.501, 0.502
    let request = |version: i64| pb::SetModelAliasRequest {
        model_name: "churn".into(),
        alias: "staging".into(),
        version,
        reason: "candidate".into(),
        ..Default::default()
    };

    // Compare-and-set: 0 means "the alias does not exist yet".
    let mut cas = request(1);
    cas.expected_current_version = Some(2);
    assert_eq!(
        code_of(client.set_model_alias(cas.clone()).await),
        Code::Aborted
    );
    cas.expected_current_version = Some(0);
    client.set_model_alias(cas.clone()).await.unwrap();
    assert_eq!(code_of(client.set_model_alias(cas).await), Code::Aborted);
    let mut cas = request(2);
    cas.expected_current_version = Some(1);
    client.set_model_alias(cas).await.unwrap();

    // The gate compares with the version the alias points at now (2).
    let mut gated = request(3);
    gated.gate_metric = "auc".into();
    gated.gate_min_delta = 0.01;
    let refused = status_of(client.set_model_alias(gated.clone()).await);
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains("metric gate"),
        "{}",
        refused.message()
    );
    gated.gate_min_delta = 0.0;
    client.set_model_alias(gated).await.unwrap();
    assert_eq!(
        alias_version(&mut client, "churn", "staging", None).await,
        Some(3)
    );

    // Only an existing ACTIVE version can hold an alias.
    set_status(&mut client, "churn", 1, pb::ModelStatus::Deprecated)
        .await
        .unwrap();
    let refused = status_of(client.set_model_alias(request(1)).await);
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains("DEPRECATED"),
        "{}",
        refused.message()
    );
    assert_eq!(
        code_of(client.set_model_alias(request(9)).await),
        Code::NotFound
    );
    let mut other_model = request(1);
    other_model.model_name = "fraud".into();
    assert_eq!(
        code_of(client.set_model_alias(other_model).await),
        Code::NotFound
    );
    assert_eq!(
        alias_version(&mut client, "churn", "staging", None).await,
        Some(3)
    );
}

async fn rolling_back_staging_walks_its_own_history_and_leaves_production_alone(
    server: TestServer,
) {
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 4).await;
    promote(&mut client, "churn", 1).await.unwrap();
    for version in [2, 3, 4] {
        set_alias(&mut client, "churn", "staging", version)
            .await
            .unwrap();
    }
    promote(&mut client, "churn", 4).await.unwrap();

    let back = rollback_alias(&mut client, "churn", "staging")
        .await
        .unwrap();
    assert_eq!(back.rolled_back_version, 4);
    assert_eq!(back.model_version.unwrap().version, 3);
    assert_eq!(
        rollback_alias(&mut client, "churn", "staging")
            .await
            .unwrap()
            .model_version
            .unwrap()
            .version,
        2
    );
    let exhausted = status_of(rollback_alias(&mut client, "churn", "staging").await);
    assert_eq!(exhausted.code(), Code::FailedPrecondition);
    assert!(
        exhausted.message().contains("no earlier version"),
        "{}",
        exhausted.message()
    );
    assert_eq!(production_version(&mut client, "churn").await, Some(4));

    // Production's own rollback is untouched by staging's.
    let back = rollback_alias(&mut client, "churn", "production")
        .await
        .unwrap();
    assert_eq!(back.model_version.unwrap().version, 1);
    assert_eq!(
        alias_version(&mut client, "churn", "staging", None).await,
        Some(2)
    );

    // Compare-and-set guards a rollback too.
    let stale = client
        .rollback_model_alias(pb::RollbackModelAliasRequest {
            emergency: false,
            model_name: "churn".into(),
            alias: "production".into(),
            reason: "stale".into(),
            expected_current_version: Some(4),
            request_id: String::new(),
        })
        .await;
    assert_eq!(code_of(stale), Code::Aborted);
    let never_set = status_of(rollback_alias(&mut client, "churn", "shadow").await);
    assert_eq!(never_set.code(), Code::FailedPrecondition);
}

async fn a_deleted_alias_points_nowhere_and_rolls_back_past_the_deletion(server: TestServer) {
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 5).await;
    set_alias(&mut client, "churn", "canary", 1).await.unwrap();
    set_alias(&mut client, "churn", "canary", 2).await.unwrap();
    let delete = |expected| pb::DeleteModelAliasRequest {
        emergency: false,
        model_name: "churn".into(),
        alias: "canary".into(),
        reason: "canary finished".into(),
        expected_current_version: expected,
        request_id: String::new(),
    };
    assert_eq!(
        code_of(client.delete_model_alias(delete(Some(1))).await),
        Code::Aborted
    );
    let deleted = client
        .delete_model_alias(delete(Some(2)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deleted.previous_version, 2);
    assert_eq!(
        alias_version(&mut client, "churn", "canary", None).await,
        None
    );
    assert!(
        get_version(&mut client, "churn", 2)
            .await
            .unwrap()
            .aliases
            .is_empty()
    );
    assert_eq!(
        code_of(client.delete_model_alias(delete(None)).await),
        Code::NotFound
    );
    assert_eq!(
        code_of(rollback_alias(&mut client, "churn", "canary").await),
        Code::FailedPrecondition
    );

    let last = all_events(&mut client, "churn").await.pop().unwrap();
    assert_eq!(last.r#type, pb::EventType::AliasDeleted as i32);
    assert_eq!(
        (last.alias.as_str(), last.previous_version, last.new_version),
        ("canary", Some(2), None)
    );

    // A new move after the deletion rolls back to what the alias held before.
    set_alias(&mut client, "churn", "canary", 5).await.unwrap();
    let back = rollback_alias(&mut client, "churn", "canary")
        .await
        .unwrap();
    assert_eq!(back.model_version.unwrap().version, 2);
    let back = rollback_alias(&mut client, "churn", "canary")
        .await
        .unwrap();
    assert_eq!(back.model_version.unwrap().version, 1);
}

async fn as_of_answers_per_alias_from_the_trail(server: TestServer) {
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 3).await;
    set_alias(&mut client, "churn", "staging", 1).await.unwrap();
    promote(&mut client, "churn", 2).await.unwrap();
    set_alias(&mut client, "churn", "staging", 3).await.unwrap();
    rollback_alias(&mut client, "churn", "staging")
        .await
        .unwrap();
    client
        .delete_model_alias(pb::DeleteModelAliasRequest {
            emergency: false,
            model_name: "churn".into(),
            alias: "staging".into(),
            reason: "done".into(),
            expected_current_version: None,
            request_id: String::new(),
        })
        .await
        .unwrap();

    let events = all_events(&mut client, "churn").await;
    let time_of = |alias: &str, nth: usize| {
        events
            .iter()
            .filter(|e| e.alias == alias)
            .nth(nth)
            .and_then(|e| e.occurred_at)
            .unwrap()
    };
    let before = |t: prost_types::Timestamp| prost_types::Timestamp {
        seconds: t.seconds - 1,
        ..t
    };
    let staging: Vec<Option<i64>> = {
        let mut answers = vec![
            alias_version(
                &mut client,
                "churn",
                "staging",
                Some(before(time_of("staging", 0))),
            )
            .await,
        ];
        for nth in 0..4 {
            answers.push(
                alias_version(
                    &mut client,
                    "churn",
                    "staging",
                    Some(time_of("staging", nth)),
                )
                .await,
            );
        }
        answers
    };
    assert_eq!(staging, [None, Some(1), Some(3), Some(1), None]);
    // Production's history is its own.
    assert_eq!(
        alias_version(
            &mut client,
            "churn",
            "production",
            Some(time_of("staging", 0))
        )
        .await,
        None
    );
    assert_eq!(
        alias_version(
            &mut client,
            "churn",
            "production",
            Some(time_of("staging", 3))
        )
        .await,
        Some(2)
    );
    // GetProductionModel's as_of is the production alias's.
    let production_then = client
        .get_production_model(pb::GetProductionModelRequest {
            model_name: "churn".into(),
            as_of: Some(time_of("production", 0)),
            consistency_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .model_version
        .unwrap();
    assert_eq!(production_then.version, 2);
}

async fn a_version_holding_an_alias_cannot_be_deprecated_or_archived(server: TestServer) {
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 2).await;
    set_alias(&mut client, "churn", "canary", 1).await.unwrap();
    set_alias(&mut client, "churn", "shadow", 1).await.unwrap();
    for to in [pb::ModelStatus::Deprecated, pb::ModelStatus::Archived] {
        let refused = status_of(set_status(&mut client, "churn", 1, to).await);
        assert_eq!(refused.code(), Code::FailedPrecondition);
        assert!(
            refused.message().contains("\"canary\", \"shadow\""),
            "the refusal names the aliases: {}",
            refused.message()
        );
    }
    set_alias(&mut client, "churn", "canary", 2).await.unwrap();
    set_alias(&mut client, "churn", "shadow", 2).await.unwrap();
    let deprecated = set_status(&mut client, "churn", 1, pb::ModelStatus::Deprecated)
        .await
        .unwrap();
    assert_eq!(deprecated.status, pb::ModelStatus::Deprecated as i32);
}

async fn latest_follows_registrations_and_status_changes_and_is_read_only(server: TestServer) {
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 2).await;
    assert_eq!(
        alias_version(&mut client, "churn", "latest", None).await,
        Some(2)
    );
    register_many(&mut client, "churn", 1).await;
    assert_eq!(
        alias_version(&mut client, "churn", "latest", None).await,
        Some(3)
    );
    set_status(&mut client, "churn", 3, pb::ModelStatus::Deprecated)
        .await
        .unwrap();
    assert_eq!(
        alias_version(&mut client, "churn", "latest", None).await,
        Some(2)
    );
    let model = get_model(&mut client, "churn").await.unwrap();
    assert_eq!(model.latest_version, Some(2));
    set_status(&mut client, "churn", 3, pb::ModelStatus::Active)
        .await
        .unwrap();
    assert_eq!(
        alias_version(&mut client, "churn", "latest", None).await,
        Some(3)
    );

    // As of the moment version 3 was deprecated, latest was 2.
    let events = all_events(&mut client, "churn").await;
    let deprecated_at = events
        .iter()
        .find(|e| e.r#type == pb::EventType::StatusChanged as i32)
        .and_then(|e| e.occurred_at)
        .unwrap();
    let registered_2 = events
        .iter()
        .filter(|e| e.r#type == pb::EventType::VersionRegistered as i32)
        .nth(1)
        .and_then(|e| e.occurred_at)
        .unwrap();
    assert_eq!(
        alias_version(&mut client, "churn", "latest", Some(deprecated_at)).await,
        Some(2)
    );
    assert_eq!(
        alias_version(&mut client, "churn", "latest", Some(registered_2)).await,
        Some(2)
    );

    for status in [pb::ModelStatus::Archived] {
        for v in 1..=3 {
            set_status(&mut client, "churn", v, status).await.unwrap();
        }
    }
    assert_eq!(
        alias_version(&mut client, "churn", "latest", None).await,
        None
    );

    let refused = status_of(set_alias(&mut client, "churn", "latest", 1).await);
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(
        refused.message().starts_with("invalid alias"),
        "{}",
        refused.message()
    );
    let refused = client
        .delete_model_alias(pb::DeleteModelAliasRequest {
            emergency: false,
            model_name: "churn".into(),
            alias: "latest".into(),
            reason: "x".into(),
            expected_current_version: None,
            request_id: String::new(),
        })
        .await;
    assert_eq!(code_of(refused), Code::InvalidArgument);
    assert_eq!(
        code_of(rollback_alias(&mut client, "churn", "latest").await),
        Code::InvalidArgument
    );
}

async fn listings_filter_by_alias_and_models_show_their_aliases(server: TestServer) {
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 4).await;
    register_many(&mut client, "fraud", 1).await;
    promote(&mut client, "churn", 1).await.unwrap();
    set_alias(&mut client, "churn", "canary", 2).await.unwrap();
    set_alias(&mut client, "churn", "shadow", 2).await.unwrap();
    set_alias(&mut client, "churn", "staging", 3).await.unwrap();

    let mut versions = async |request: pb::ListModelVersionsRequest| -> Vec<(String, i64)> {
        client
            .list_model_versions(request)
            .await
            .unwrap()
            .into_inner()
            .model_versions
            .into_iter()
            .map(|v| (v.model_name, v.version))
            .collect()
    };
    let churn = |v: i64| ("churn".to_owned(), v);
    let with_any = versions(pb::ListModelVersionsRequest {
        any_alias: true,
        ..Default::default()
    })
    .await;
    assert_eq!(with_any, [churn(1), churn(2), churn(3)]);
    let named = versions(pb::ListModelVersionsRequest {
        model_name: "churn".into(),
        aliases: vec!["staging".into(), "canary".into()],
        ..Default::default()
    })
    .await;
    assert_eq!(named, [churn(2), churn(3)]);
    let production = versions(pb::ListModelVersionsRequest {
        production_only: true,
        ..Default::default()
    })
    .await;
    assert_eq!(production, [churn(1)]);

    let page = client
        .list_model_versions(pb::ListModelVersionsRequest {
            model_name: "churn".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .model_versions;
    let held: Vec<Vec<String>> = page.into_iter().map(|v| v.aliases).collect();
    assert_eq!(
        held,
        [
            vec!["production".to_owned()],
            vec!["canary".to_owned(), "shadow".to_owned()],
            vec!["staging".to_owned()],
            vec![],
        ]
    );

    let models = client
        .list_models(pb::ListModelsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .models;
    let churn_model = &models[0];
    assert_eq!(
        churn_model.aliases,
        HashMap::from([
            ("production".to_owned(), 1),
            ("canary".to_owned(), 2),
            ("shadow".to_owned(), 2),
            ("staging".to_owned(), 3)
        ])
    );
    assert_eq!(churn_model.production_version, Some(1));
    assert_eq!(churn_model.latest_version, Some(4));
    assert!(models[1].aliases.is_empty());
    assert_eq!(models[1].latest_version, Some(1));
}

async fn update_model_sets_description_and_tags_with_an_event(server: TestServer) {
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 1).await;
    let update = |description: Option<&str>, tags: &[(&str, &str)], remove: &[&str]| {
        pb::UpdateModelRequest {
            model_name: "churn".into(),
            description: description.map(str::to_owned),
            tags: tags
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            remove_tags: remove.iter().map(|k| (*k).to_owned()).collect(),
            reason: "ownership".into(),
            request_id: String::new(),
        }
    };
    let model = client
        .update_model(update(
            Some("Customer churn"),
            &[("team", "growth"), ("tier", "1")],
            &[],
        ))
        .await
        .unwrap()
        .into_inner()
        .model
        .unwrap();
    assert_eq!(model.description, "Customer churn");
    assert_eq!(model.tags.len(), 2);
    let model = client
        .update_model(update(None, &[("team", "retention")], &["tier"]))
        .await
        .unwrap()
        .into_inner()
        .model
        .unwrap();
    assert_eq!(model.description, "Customer churn");
    assert_eq!(
        model.tags,
        HashMap::from([("team".to_owned(), "retention".to_owned())])
    );
    assert_eq!(get_model(&mut client, "churn").await.unwrap(), model);

    let last = all_events(&mut client, "churn").await.pop().unwrap();
    assert_eq!(last.r#type, pb::EventType::ModelUpdated as i32);
    assert_eq!((last.version, last.reason.as_str()), (None, "ownership"));

    let nothing = status_of(client.update_model(update(None, &[], &[])).await);
    assert_eq!(nothing.code(), Code::InvalidArgument);
    let bad_tag = status_of(
        client
            .update_model(update(None, &[("bad key", "x")], &[]))
            .await,
    );
    assert!(
        bad_tag.message().starts_with("invalid tags"),
        "{}",
        bad_tag.message()
    );
    let mut missing = update(Some("x"), &[], &[]);
    missing.model_name = "fraud".into();
    assert_eq!(code_of(client.update_model(missing).await), Code::NotFound);
}

async fn concurrent_moves_of_one_alias_leave_one_winner_while_another_alias_moves_freely(
    server: TestServer,
) {
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 16).await;
    promote(&mut client, "churn", 16).await.unwrap();
    let mut tasks = Vec::new();
    for version in 1..=16_i64 {
        let mut canary = server.client.clone();
        tasks.push(tokio::spawn(async move {
            canary
                .set_model_alias(pb::SetModelAliasRequest {
                    model_name: "churn".into(),
                    alias: "canary".into(),
                    version,
                    reason: format!("canary {version}"),
                    expected_current_version: Some(0),
                    ..Default::default()
                })
                .await
                .map(|r| r.into_inner().model_version.unwrap().version)
        }));
        let mut staging = server.client.clone();
        tasks.push(tokio::spawn(async move {
            staging
                .set_model_alias(pb::SetModelAliasRequest {
                    model_name: "churn".into(),
                    alias: "staging".into(),
                    version: 17 - version,
                    reason: format!("staging {}", 17 - version),
                    ..Default::default()
                })
                .await
                .map(|_| -1)
        }));
    }
    let mut canary_winners = Vec::new();
    let mut aborted = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(-1) => {}
            Ok(version) => canary_winners.push(version),
            Err(status) if status.code() == Code::Aborted => aborted += 1,
            Err(status) => panic!("unexpected failure: {status:?}"),
        }
    }
    assert_eq!(canary_winners.len(), 1, "exactly one compare-and-set wins");
    assert_eq!(aborted, 15, "every other one is told it lost");
    assert_eq!(
        alias_version(&mut client, "churn", "canary", None).await,
        Some(canary_winners[0])
    );

    // Each alias's trail is a chain that replays to where it points now.
    let events = all_events(&mut client, "churn").await;
    for alias in ["canary", "staging"] {
        let mut replayed = None;
        let trail = events_of_alias(&events, alias);
        for (_, previous, new) in &trail {
            assert_eq!(
                *previous, replayed,
                "{alias}: each move starts where the last ended"
            );
            replayed = *new;
        }
        assert_eq!(
            replayed,
            alias_version(&mut client, "churn", alias, None).await
        );
    }
    assert_eq!(events_of_alias(&events, "canary").len(), 1);
    assert_eq!(events_of_alias(&events, "staging").len(), 16);
    assert_eq!(production_version(&mut client, "churn").await, Some(16));
}

async fn the_database_refuses_aliases_the_rules_forbid(server: TestServer) {
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 2).await;
    register_many(&mut client, "fraud", 3).await;
    set_alias(&mut client, "churn", "canary", 1).await.unwrap();
    set_status(&mut client, "churn", 2, pb::ModelStatus::Deprecated)
        .await
        .unwrap();
    let churn = "(SELECT id FROM models WHERE name = 'churn')";
    let event = "(SELECT max(id) FROM events)";
    let url = &server.database_url;
    // Version 3 exists, but of another model (the composite foreign key
    // backs this up; the trigger answers first, naming the cause).
    let cross_model = format!(
        "INSERT INTO aliases (model_id, alias, version, event_id) VALUES ({churn}, 'x', 3, {event})"
    );
    let refused = |result: Result<(), String>, why: &str| {
        let error = result.expect_err("the database refuses it");
        assert!(error.to_lowercase().contains(why), "{error}");
    };
    refused(execute_sql(url, &cross_model).await, "does not have");
    // A DEPRECATED version cannot hold an alias.
    let deprecated = format!("UPDATE aliases SET version = 2 WHERE model_id = {churn}");
    refused(
        execute_sql(url, &deprecated).await,
        "only active versions hold",
    );
    // A version holding an alias cannot leave ACTIVE.
    let leave_active = format!(
        "UPDATE model_versions SET status = 'ARCHIVED' WHERE model_id = {churn} AND version = 1"
    );
    refused(execute_sql(url, &leave_active).await, "must stay active");
    // `latest` is never stored, and one row per (model, alias).
    let latest = format!(
        "INSERT INTO aliases (model_id, alias, version, event_id) VALUES ({churn}, 'latest', 1, {event})"
    );
    refused(execute_sql(url, &latest).await, "check");
    let twice = format!(
        "INSERT INTO aliases (model_id, alias, version, event_id) VALUES ({churn}, 'canary', 1, {event})"
    );
    refused(execute_sql(url, &twice).await, "unique");
    assert_eq!(
        alias_version(&mut client, "churn", "canary", None).await,
        Some(1)
    );
    assert_eq!(
        get_version(&mut client, "churn", 1).await.unwrap().status,
        pb::ModelStatus::Active as i32
    );
}

async fn bad_alias_requests_name_the_field(server: TestServer) {
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 1).await;
    for (alias, reason, version, field) in [
        ("Canary", "x", 1, "alias"),
        ("", "x", 1, "alias"),
        ("canary", " ", 1, "reason"),
        ("canary", "x", 0, "version"),
    ] {
        let refused = status_of(
            client
                .set_model_alias(pb::SetModelAliasRequest {
                    model_name: "churn".into(),
                    alias: alias.into(),
                    version,
                    reason: reason.into(),
                    ..Default::default()
                })
                .await,
        );
        assert_eq!(refused.code(), Code::InvalidArgument);
        assert!(
            refused.message().starts_with(&format!("invalid {field}")),
            "{alias:?}: {}",
            refused.message()
        );
    }
    let refused = status_of(
        client
            .get_model_version_by_alias(pb::GetModelVersionByAliasRequest {
                model_name: "churn".into(),
                alias: "no spaces".into(),
                as_of: None,
                consistency_token: String::new(),
            })
            .await,
    );
    assert!(refused.message().starts_with("invalid alias"));
    let missing = status_of(
        client
            .get_model_version_by_alias(pb::GetModelVersionByAliasRequest {
                model_name: "churn".into(),
                alias: "staging".into(),
                as_of: None,
                consistency_token: String::new(),
            })
            .await,
    );
    assert_eq!(missing.code(), Code::NotFound);
    assert!(
        missing.message().contains("has no alias \"staging\""),
        "{}",
        missing.message()
    );
    assert!(events_of_alias(&all_events(&mut client, "churn").await, "canary").is_empty());
}
