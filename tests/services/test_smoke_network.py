from tests.support import Net


def test_network_pays_and_stays_consistent(net: Net) -> None:
    net.run("ana -> bia 30.00", "ana -> caio 10.00")
    assert net.balance("ana") == "-40.00"
    assert net.balance("caio") == "10.00"
    assert net.balance("network:clearing:cubo") == "-10.00"
    net.assert_consistent()
