"""kafka-python's KafkaAdminClient against a broker with Kafka's KRaft
authorizer configured: create_acls, describe_acls (exact, ANY and MATCH
filters), delete_acls, and the SCRAM credential calls
(alter_user_scram_credentials, describe_user_scram_credentials) with
Kafka's error cases. Authorization of the requests themselves is not
exercised (the client is User:ANONYMOUS, a super user)."""

import pytest
from kafka import KafkaAdminClient
from kafka.admin import (ACL, ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType,
                         ResourcePattern, ResourcePatternFilter, ResourceType, ScramMechanism,
                         UserScramCredentialDeletion, UserScramCredentialUpsertion)
from kafka.errors import InvalidRequestError, NoError

BROKER_SETTINGS = [
    "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "super.users=User:ANONYMOUS",
]


@pytest.fixture
def admin(broker):
    a = KafkaAdminClient(bootstrap_servers=broker, request_timeout_ms=15000)
    yield a
    a.close()


def acl(principal, name, operation=ACLOperation.READ, permission=ACLPermissionType.ALLOW,
        resource_type=ResourceType.TOPIC, pattern=ACLResourcePatternType.LITERAL, host="*"):
    return ACL(principal=principal, host=host, operation=operation, permission_type=permission,
               resource_pattern=ResourcePattern(resource_type, name, pattern))


def key(a):
    p = a.resource_pattern
    return (int(p.resource_type), p.resource_name, int(p.pattern_type), a.principal, a.host,
            int(a.operation), int(a.permission_type))


def keys(acls):
    return sorted(key(a) for a in acls)


def everything():
    return ACLFilter(principal=None, host=None, operation=ACLOperation.ANY,
                     permission_type=ACLPermissionType.ANY,
                     resource_pattern=ResourcePatternFilter(ResourceType.ANY, None,
                                                            ACLResourcePatternType.ANY))


def test_acls_are_created_described_and_deleted(admin, topic_name):
    alice = acl("User:alice", topic_name)
    bob_prefix = acl("User:bob", topic_name[:5], pattern=ACLResourcePatternType.PREFIXED,
                     operation=ACLOperation.WRITE)
    group = acl("User:alice", "g-" + topic_name, resource_type=ResourceType.GROUP,
                permission=ACLPermissionType.DENY)
    result = admin.create_acls([alice, bob_prefix, group, alice])
    assert len(result["succeeded"]) == 4 and result["failed"] == [], result

    # An empty resource name is refused with INVALID_REQUEST.
    result = admin.create_acls([acl("User:alice", "")])
    assert result["succeeded"] == []
    assert [type(e) if isinstance(e, Exception) else e for e in result["failed"]] \
        == [InvalidRequestError], result

    found, error = admin.describe_acls(everything())
    assert error is NoError
    # The duplicate was stored once.
    assert keys(found) == keys([alice, bob_prefix, group])

    matching = ACLFilter(principal=None, host=None, operation=ACLOperation.ANY,
                         permission_type=ACLPermissionType.ANY,
                         resource_pattern=ResourcePatternFilter(ResourceType.TOPIC, topic_name,
                                                                ACLResourcePatternType.MATCH))
    found, _ = admin.describe_acls(matching)
    assert keys(found) == keys([alice, bob_prefix])

    by_principal = ACLFilter(principal="User:alice", host=None, operation=ACLOperation.ANY,
                             permission_type=ACLPermissionType.DENY,
                             resource_pattern=ResourcePatternFilter(ResourceType.ANY, None,
                                                                    ACLResourcePatternType.ANY))
    found, _ = admin.describe_acls(by_principal)
    assert keys(found) == keys([group])

    [(f, deleted, error)] = admin.delete_acls([matching])
    assert error is NoError
    assert keys(a for a in deleted) == keys([alice, bob_prefix])
    found, _ = admin.describe_acls(everything())
    assert keys(found) == keys([group])
    admin.delete_acls([everything()])
    found, _ = admin.describe_acls(everything())
    assert found == []


def test_scram_credentials(admin):
    result = admin.alter_user_scram_credentials([
        UserScramCredentialUpsertion("alice", ScramMechanism.SCRAM_SHA_256, "alice-secret",
                                     iterations=8192),
        UserScramCredentialUpsertion("bob", ScramMechanism.SCRAM_SHA_512, "bob-secret"),
        UserScramCredentialUpsertion("carol", ScramMechanism.SCRAM_SHA_256, "x", iterations=100),
        UserScramCredentialDeletion("nobody", ScramMechanism.SCRAM_SHA_256),
    ])
    assert result["alice"] is None and result["bob"] is None, result
    assert result["carol"] == "Too few iterations", result
    assert result["nobody"] == "Attempt to delete a user credential that does not exist", result

    described = admin.describe_user_scram_credentials()
    assert sorted(described) == ["alice", "bob"]
    assert described["alice"] == {
        "error": None,
        "credential_infos": [{"mechanism": ScramMechanism.SCRAM_SHA_256, "iterations": 8192}],
    }
    described = admin.describe_user_scram_credentials(["bob", "zed"])
    assert described["bob"]["credential_infos"] == [
        {"mechanism": ScramMechanism.SCRAM_SHA_512, "iterations": 4096}]
    assert "does not exist" in described["zed"]["error"]

    result = admin.alter_user_scram_credentials([
        UserScramCredentialDeletion("bob", ScramMechanism.SCRAM_SHA_512)])
    assert result == {"bob": None}
    assert sorted(admin.describe_user_scram_credentials()) == ["alice"]
