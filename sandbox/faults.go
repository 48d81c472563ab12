package sandbox

// AddSendThen500 adds a send-then-500 rule: the next rule.Count sends (all
// of them when Count is zero or less) that match rule.Order and
// rule.Seller are recorded as sent and then answered 500 InternalFailure.
// Rules are tried in the order they were added; Reset drops the ones added
// since New.
func (s *Sandbox) AddSendThen500(rule SendThen500Rule) {
	s.rulesMu.Lock()
	s.rules = append(s.rules, rule)
	s.rulesMu.Unlock()
}

// SendThen500Rules returns the send-then-500 rules still in force, with
// the counts that remain.
func (s *Sandbox) SendThen500Rules() []SendThen500Rule {
	s.rulesMu.Lock()
	defer s.rulesMu.Unlock()
	return append([]SendThen500Rule{}, s.rules...)
}

// ClearSendThen500 drops every send-then-500 rule, configured ones too.
func (s *Sandbox) ClearSendThen500() {
	s.rulesMu.Lock()
	s.rules = nil
	s.rulesMu.Unlock()
}

// ruleFault consumes the first rule matching a send, if any.
func (s *Sandbox) ruleFault(sellerID, orderID string) sendFault {
	s.rulesMu.Lock()
	defer s.rulesMu.Unlock()
	for i, r := range s.rules {
		if !match(r.Order, orderID) || !match(r.Seller, sellerID) {
			continue
		}
		if r.Count > 0 {
			if r.Count == 1 {
				s.rules = append(s.rules[:i:i], s.rules[i+1:]...)
			} else {
				s.rules[i].Count--
			}
		}
		return faultThen500
	}
	return faultNone
}
