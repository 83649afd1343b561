package service

import (
	"context"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/parleyhq/parley/domain"
)

// SMS outbox policy: a message is attempted at most MaxSMSAttempts times;
// the pause before attempt n+1 grows from 1 s, doubling, up to 5 min, with
// jitter, unless the API asked for a longer one (Retry-After).
const (
	MaxSMSAttempts = 8
	smsBaseBackoff = time.Second
	smsMaxBackoff  = 5 * time.Minute
)

// smsStatusRank orders the delivery statuses a message moves through; a
// status only replaces one of a lower rank (callbacks arrive in any
// order). The three final statuses share the highest rank: the first one
// known stays.
var smsStatusRank = map[string]int{
	"": 0, "accepted": 1, "scheduled": 1, "queued": 1, "sending": 2, "sent": 3,
	"delivered": 4, "undelivered": 4, "failed": 4,
}

// KnownSMSStatus reports whether status is a delivery status Parley
// tracks.
func KnownSMSStatus(status string) bool {
	_, ok := smsStatusRank[status]
	return ok && status != ""
}

// forwardStatus returns the status after next arrives at current.
func forwardStatus(current, next string) string {
	if smsStatusRank[next] > smsStatusRank[current] {
		return next
	}
	return current
}

// smsBackoff is the pause after failed attempt n (1-based).
func smsBackoff(n int, retryAfter time.Duration) time.Duration {
	d := smsMaxBackoff
	if n < 20 {
		d = min(smsMaxBackoff, smsBaseBackoff<<(n-1))
	}
	d = d/2 + rand.N(d/2+1)
	return max(d, retryAfter)
}

// queueSMS queues an outbound message of an SMS conversation in the
// transaction that wrote it, to be sent after the conversation's earlier
// ones; a reply to a destination that opted out is recorded as not sent
// (SMSOptedOut).
func (s *Service) queueSMS(ctx context.Context, tx domain.Tx, c domain.Conversation, msg domain.Message) error {
	res, err := tx.GetResource(ctx, c.OrgID, c.ResourceID)
	if err != nil {
		return err
	}
	optedOut, err := tx.OptedOut(ctx, c.OrgID, res.ID, c.CustomerDestination)
	if err != nil {
		return err
	}
	at := msg.CreatedAt
	m := domain.SMSOutbound{
		OrgID: c.OrgID, MessageID: msg.ID, ConversationID: c.ID, ResourceID: res.ID, Seq: msg.Seq,
		From: res.Address, To: c.CustomerDestination, Body: msg.Text,
		State: domain.SMSPending, NextAttemptAt: at, CreatedAt: at, UpdatedAt: at,
	}
	if optedOut {
		m.State, m.ErrorMessage = domain.SMSOptedOut, "the recipient opted out (STOP); not sent"
	}
	if err := tx.EnqueueSMS(ctx, m); err != nil {
		return err
	}
	if m.State == domain.SMSPending {
		return tx.Notify(ctx, domain.TopicSMS, string(c.OrgID))
	}
	return nil
}

// ClaimSMS hands up to limit due messages of any org to the worker named
// claim for lease. It first resolves claims whose lease ran out: their
// worker may have sent the message before it stopped, so they become
// SMSUnknown and are never sent again. A message whose recipient opted
// out since it was queued is recorded SMSOptedOut instead of claimed.
func (s *Service) ClaimSMS(ctx context.Context, claim string, lease time.Duration, limit int) (claimed []domain.SMSOutbound, err error) {
	err = s.store.Update(ctx, func(tx domain.Tx) error {
		claimed = claimed[:0]
		now := s.now()
		expired, err := tx.ExpiredSMSClaims(ctx, now, limit)
		if err != nil {
			return err
		}
		for _, m := range expired {
			m.State, m.LeaseUntil, m.Claim, m.UpdatedAt = domain.SMSUnknown, nil, "", now
			m.ErrorMessage = "the sending worker stopped before it recorded the API's answer; the message may have been sent, so it is not sent again"
			if err := tx.SaveSMS(ctx, m); err != nil {
				return err
			}
		}
		got, err := tx.ClaimSMS(ctx, now, now.Add(lease), claim, limit)
		if err != nil {
			return err
		}
		for _, m := range got {
			optedOut, err := tx.OptedOut(ctx, m.OrgID, m.ResourceID, m.To)
			if err != nil {
				return err
			}
			if !optedOut {
				claimed = append(claimed, m)
				continue
			}
			m.State, m.LeaseUntil, m.Claim, m.UpdatedAt = domain.SMSOptedOut, nil, "", now
			m.ErrorMessage = "the recipient opted out (STOP); not sent"
			if err := tx.SaveSMS(ctx, m); err != nil {
				return err
			}
		}
		return nil
	})
	return claimed, err
}

// SMSAttempt is the outcome of one send attempt.
type SMSAttempt struct {
	// ProviderID and Status are set when the API accepted the message.
	ProviderID, Status string
	// Retry: the API certainly did not accept it (try again later, after
	// at least RetryAfter). Ambiguous: it may have (never try again).
	// OptedOut: the API refused because the recipient opted out.
	// Otherwise, with no ProviderID, the API refused it for good.
	Retry, Ambiguous, OptedOut bool
	RetryAfter                 time.Duration
	ErrorCode, ErrorMessage    string
}

// RecordSMSAttempt records the outcome of an attempt on m, claimed by
// ClaimSMS. If the claim was lost meanwhile (its lease ran out), nothing
// changes. Errors: not_found (message).
func (s *Service) RecordSMSAttempt(ctx context.Context, m domain.SMSOutbound, a SMSAttempt) error {
	return s.update(ctx, m.OrgID, func(tx domain.Tx) error {
		cur, err := tx.GetSMS(ctx, m.OrgID, m.MessageID)
		if err != nil {
			return err
		}
		if cur.State != domain.SMSSending || cur.Claim != m.Claim {
			return nil
		}
		now := s.now()
		cur.LeaseUntil, cur.Claim, cur.UpdatedAt = nil, "", now
		cur.ErrorCode, cur.ErrorMessage = a.ErrorCode, a.ErrorMessage
		switch {
		case a.ProviderID != "":
			cur.State, cur.ProviderID = domain.SMSAccepted, a.ProviderID
			cur.Status = forwardStatus(cur.Status, a.Status)
			cur.ErrorCode, cur.ErrorMessage = "", ""
		case a.OptedOut:
			cur.State = domain.SMSOptedOut
			if err := tx.SetOptOut(ctx, cur.OrgID, cur.ResourceID, cur.To, true, now); err != nil {
				return err
			}
		case a.Ambiguous:
			cur.State = domain.SMSUnknown
		case a.Retry && cur.Attempts < MaxSMSAttempts:
			cur.State, cur.NextAttemptAt = domain.SMSPending, now.Add(smsBackoff(cur.Attempts, a.RetryAfter))
		default:
			cur.State = domain.SMSFailed
		}
		return tx.SaveSMS(ctx, cur)
	})
}

// SMSStatusUpdate is a delivery status callback.
type SMSStatusUpdate struct {
	ResourceID domain.ResourceID
	// MessageID is Parley's message (from the callback URL), ProviderID
	// the provider's; either finds the message.
	MessageID  domain.MessageID
	ProviderID string
	Status     string
	ErrorCode  string
}

// RecordSMSStatus moves a message's delivery status forward (a status
// that arrives after a later one changes nothing). It also settles a
// message whose send was ambiguous: the callback proves the API accepted
// it. A callback for error 21610 (unsubscribed recipient) marks the
// recipient opted out. Errors: not_found (no such message on the
// resource), invalid_argument (unknown status).
func (s *Service) RecordSMSStatus(ctx context.Context, org domain.OrgID, u SMSStatusUpdate) error {
	if !KnownSMSStatus(u.Status) {
		return invalidf("unknown message status %q", u.Status)
	}
	return s.update(ctx, org, func(tx domain.Tx) error {
		m, err := s.findSMS(ctx, tx, org, u)
		if err != nil {
			return err
		}
		now := s.now()
		if m.ProviderID == "" {
			m.ProviderID = u.ProviderID
		}
		if m.State == domain.SMSUnknown || m.State == domain.SMSSending {
			// Accepted, whatever the worker did or did not record.
			m.State, m.LeaseUntil, m.Claim = domain.SMSAccepted, nil, ""
		}
		next := forwardStatus(m.Status, u.Status)
		if next != m.Status && u.ErrorCode != "" {
			m.ErrorCode = u.ErrorCode
		}
		m.Status, m.UpdatedAt = next, now
		if u.ErrorCode == "21610" {
			if err := tx.SetOptOut(ctx, org, m.ResourceID, m.To, true, now); err != nil {
				return err
			}
		}
		return tx.SaveSMS(ctx, m)
	})
}

func (s *Service) findSMS(ctx context.Context, tx domain.Tx, org domain.OrgID, u SMSStatusUpdate) (domain.SMSOutbound, error) {
	if u.MessageID != "" {
		m, err := tx.GetSMS(ctx, org, u.MessageID)
		if err == nil && m.ResourceID == u.ResourceID && (u.ProviderID == "" || m.ProviderID == "" || m.ProviderID == u.ProviderID) {
			return m, nil
		}
		if err != nil && !domain.IsNotFound(err) {
			return m, err
		}
	}
	if u.ProviderID == "" {
		return domain.SMSOutbound{}, domain.Errorf(domain.CodeNotFound, "no outbound message %s on resource %s", u.MessageID, u.ResourceID)
	}
	return tx.SMSByProviderID(ctx, org, u.ResourceID, u.ProviderID)
}

// GetSMS returns the outbox record of an SMS conversation's outbound
// message. Errors: not_found.
func (s *Service) GetSMS(ctx context.Context, org domain.OrgID, id domain.MessageID) (m domain.SMSOutbound, err error) {
	err = s.view(ctx, func(tx domain.Tx) error {
		m, err = tx.GetSMS(ctx, org, id)
		return err
	})
	return m, err
}

// SMS keywords, as carriers and Twilio treat them: a message that is
// exactly one of them (ignoring case and surrounding spaces).
var (
	optOutKeywords = []string{"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}
	optInKeywords  = []string{"START", "YES", "UNSTOP"}
)

// smsKeyword says whether text opts out (STOP...) or back in (START...).
func smsKeyword(text string) (optOut, optIn bool) {
	word := strings.ToUpper(strings.TrimSpace(text))
	for _, k := range optOutKeywords {
		optOut = optOut || word == k
	}
	for _, k := range optInKeywords {
		optIn = optIn || word == k
	}
	return optOut, optIn
}

// ReceiveSMS hands an inbound SMS to Receive after applying the opt-out
// keywords: STOP (and its synonyms) marks the sender opted out of the
// resource, so the replies to them are recorded but not sent; START lifts
// it. The keyword message itself is stored like any other.
// Errors: those of Receive.
func (s *Service) ReceiveSMS(ctx context.Context, org domain.OrgID, in Inbound) (Received, error) {
	if optOut, optIn := smsKeyword(in.Text); optOut || optIn {
		from, err := s.phoneNumber("From", in.Destination)
		if err != nil {
			return Received{}, err
		}
		err = s.update(ctx, org, func(tx domain.Tx) error {
			if _, err := tx.GetResource(ctx, org, in.ResourceID); err != nil {
				return err
			}
			return tx.SetOptOut(ctx, org, in.ResourceID, from, optOut, s.now())
		})
		if err != nil {
			return Received{}, err
		}
	}
	return s.Receive(ctx, org, in)
}
