"""Local fakes of outside services. Each speaks the real protocol on 127.0.0.1."""
