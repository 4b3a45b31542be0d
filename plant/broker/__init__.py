"""MQTT brokers plantwatch can start: Mosquitto with a generated config, or an embedded one.

:mod:`plant.broker.mosquitto` renders a Mosquitto config and runs it as a child process;
:mod:`plant.broker.embedded` is a pure-Python broker (amqtt) for machines without Mosquitto.
:mod:`plant.broker.exposure` holds the one rule both follow: a broker reachable from another
machine needs authentication.
"""
