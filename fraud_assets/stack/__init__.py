"""The services mode's stack on one machine: `fraud-stack start|stop|status|env`."""
