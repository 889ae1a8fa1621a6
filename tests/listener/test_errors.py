from listener.errors import AudioError, ListenerError, LogError, ModelError, UsageError


def test_each_kind_of_failure_has_its_own_exit_code():
    errors = [UsageError("u"), ModelError("m"), AudioError("a"), LogError("l")]
    codes = [e.exit_code for e in errors]
    assert codes == [2, 3, 4, 5]
    assert all(isinstance(e, ListenerError) and e.message == str(e) for e in errors)
