# Integration tests: real xinetd, real clients, mailfront
